// The text of bounce/lua/feedback_apply.lua, compiled in by bounce/Makefile.am
// (feedback_lua.cc in the build directory), so no script file is needed at
// run time. Only feedback_store.cc uses it.
#pragma once

#include <string_view>

namespace sluice::bounce {

std::string_view feedback_apply_lua();

}  // namespace sluice::bounce
