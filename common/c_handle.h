// Owning smart pointers for C library handles: each handle type is freed by
// its library's own function when the pointer goes out of scope, so no code
// path (early return, error) leaks a hiredis context or an OpenSSL object.
#pragma once

#include <memory>

namespace sluice {

template <auto Free>
struct CFree {
  template <class T>
  void operator()(T* p) const noexcept {
    if (p != nullptr) Free(p);
  }
};

template <class T, auto Free>
using CHandle = std::unique_ptr<T, CFree<Free>>;

}  // namespace sluice
