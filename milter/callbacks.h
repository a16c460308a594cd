// The libmilter adapter: xxfi_* callbacks that feed a Message and apply its
// EomPlan with smfi_* calls. No policy lives here.
#pragma once

#include <libmilter/mfapi.h>

namespace sluice::milter {

// The filter description for smfi_register.
smfiDesc milter_description();

}  // namespace sluice::milter
