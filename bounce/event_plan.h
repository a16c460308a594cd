// From a parsed report and the message record to what sluice-bounce will
// write: one FeedbackEvent per recipient that failed or complained, with
// its classification, the list it goes to, a bounded note and the report's
// identity. Pure: the decisions are tested without Redis.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bounce/classify.h"
#include "bounce/feedback_store.h"
#include "bounce/report.h"

namespace sluice::bounce {

struct PlannedEvent {
  FeedbackEvent event;     // event.kind kNone: nothing to write (delay warning, not-spam report...)
  std::string status;      // "5.1.1", a feedback type, or ""
  std::string diagnostic;  // one line, for the log
};

struct EventPlan {
  std::vector<PlannedEvent> events;
  std::vector<std::string> problems;  // recipients that could not be used, for the log
};

EventPlan plan_events(const Report& report, const MessageRecord& record, std::string_view tracking_id);

}  // namespace sluice::bounce
