#include "common/csv.h"

#include <utility>

namespace sluice {

CsvReader::CsvReader(CsvLimits limits) : limits_(limits) {}

void CsvReader::feed(std::string_view bytes) { buffer_.append(bytes); }

void CsvReader::finish() { finished_ = true; }

void CsvReader::reset_record() {
  record_ = CsvRecord{};
  record_.line = record_line_;
  field_.clear();
  record_bytes_ = 0;
  discarding_ = false;
}

CsvReader::Step CsvReader::fail(Errc code, std::string reason) {
  error_ = make_error(code, std::move(reason));
  if (code == Errc::kTooLong) {
    discarding_ = true;  // the syntax is still sound: follow it to the record's end
  } else {
    state_ = State::kSkipLine;
  }
  return Step::kError;
}

CsvReader::Step CsvReader::append(char ch) {
  if (discarding_) return Step::kMore;
  if (field_.size() >= limits_.max_field_bytes) {
    return fail(Errc::kTooLong, "field longer than " + std::to_string(limits_.max_field_bytes) + " bytes");
  }
  field_ += ch;
  return Step::kMore;
}

CsvReader::Step CsvReader::end_field() {
  if (discarding_) return Step::kMore;
  if (record_.fields.size() >= limits_.max_fields) {
    return fail(Errc::kTooLong, "more than " + std::to_string(limits_.max_fields) + " fields");
  }
  record_.fields.push_back(std::move(field_));
  field_.clear();
  return Step::kMore;
}

CsvReader::Step CsvReader::end_record() {
  state_ = State::kRecordStart;
  if (end_field() == Step::kError) {
    state_ = State::kRecordStart;  // the record is over: nothing left to skip
    discarding_ = false;
    return Step::kError;
  }
  return Step::kRecordEnd;
}

CsvReader::Step CsvReader::step(char ch) {
  if (state_ == State::kRecordStart) {
    if (ch == '\n') return Step::kMore;  // a blank line
    record_line_ = line_;
    reset_record();
    if (ch == '\r') {
      state_ = State::kBlankCr;
      return Step::kMore;
    }
    state_ = State::kFieldStart;
  }
  if (state_ == State::kSkipLine) {
    if (ch == '\n') state_ = State::kRecordStart;
    return Step::kMore;
  }
  if (state_ == State::kBlankCr) {
    if (ch == '\n') {
      state_ = State::kRecordStart;
      return Step::kMore;
    }
    return fail(Errc::kInvalidInput, "CR not followed by LF outside quotes");
  }

  if (++record_bytes_ > limits_.max_record_bytes && !discarding_) {
    return fail(Errc::kTooLong, "record longer than " + std::to_string(limits_.max_record_bytes) + " bytes");
  }
  switch (state_) {
    case State::kFieldStart:
      if (ch == '"') {
        state_ = State::kQuoted;
        return Step::kMore;
      }
      [[fallthrough]];
    case State::kUnquoted:
      if (ch == ',') {
        state_ = State::kFieldStart;
        return end_field();
      }
      if (ch == '\n') return end_record();
      if (ch == '\r') {
        state_ = State::kCr;
        return Step::kMore;
      }
      if (ch == '"') return fail(Errc::kInvalidInput, "quote inside an unquoted field (quote the whole field)");
      state_ = State::kUnquoted;
      return append(ch);
    case State::kQuoted:
      if (ch == '"') {
        state_ = State::kQuoteInQuoted;
        return Step::kMore;
      }
      return append(ch);
    case State::kQuoteInQuoted:
      if (ch == '"') {  // RFC 4180 2.7: a doubled quote is one quote
        state_ = State::kQuoted;
        return append(ch);
      }
      if (ch == ',') {
        state_ = State::kFieldStart;
        return end_field();
      }
      if (ch == '\n') return end_record();
      if (ch == '\r') {
        state_ = State::kCr;
        return Step::kMore;
      }
      return fail(Errc::kInvalidInput, "text after a closing quote");
    case State::kCr:
      if (ch == '\n') return end_record();
      return fail(Errc::kInvalidInput, "CR not followed by LF outside quotes");
    case State::kRecordStart:
    case State::kBlankCr:
    case State::kSkipLine:
      break;
  }
  return Step::kMore;
}

Result<std::optional<CsvRecord>> CsvReader::next() {
  while (pos_ < buffer_.size()) {
    const char ch = buffer_[pos_++];
    const Step result = step(ch);
    if (ch == '\n') ++line_;
    if (result == Step::kError) return *std::exchange(error_, std::nullopt);
    if (result == Step::kRecordEnd) {
      if (discarding_) {  // its error was already returned
        discarding_ = false;
        continue;
      }
      return std::optional<CsvRecord>{std::move(record_)};
    }
  }
  buffer_.clear();
  pos_ = 0;
  if (!finished_) return std::optional<CsvRecord>{};

  // End of input: whatever record is open ends here.
  switch (state_) {
    case State::kRecordStart:
    case State::kBlankCr:
    case State::kSkipLine:
      state_ = State::kRecordStart;
      return std::optional<CsvRecord>{};
    case State::kQuoted:
      state_ = State::kRecordStart;
      if (discarding_) {
        discarding_ = false;
        return std::optional<CsvRecord>{};
      }
      return make_error(Errc::kInvalidInput, "quoted field not closed before the end of the input");
    case State::kFieldStart:
    case State::kUnquoted:
    case State::kQuoteInQuoted:
    case State::kCr:
      break;
  }
  const Step result = end_record();
  if (result == Step::kError) return *std::exchange(error_, std::nullopt);
  if (discarding_) {
    discarding_ = false;
    return std::optional<CsvRecord>{};
  }
  return std::optional<CsvRecord>{std::move(record_)};
}

std::string format_csv_field(std::string_view field) {
  const bool quote = field.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!field.empty() && (field.front() == ' ' || field.front() == '\t' || field.back() == ' ' ||
                                         field.back() == '\t'));
  if (!quote) return std::string(field);
  std::string out = "\"";
  for (char ch : field) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
  return out;
}

std::string format_csv_record(const std::vector<std::string>& fields, std::string_view eol) {
  std::string out;
  if (fields.size() == 1 && fields[0].empty()) {
    out = "\"\"";
  } else {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) out += ',';
      out += format_csv_field(fields[i]);
    }
  }
  out += eol;
  return out;
}

}  // namespace sluice
