#include "common/small_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sluice {

Result<std::string> read_small_file(const std::string& path, std::size_t cap) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(Errc::kConfig, path + ": cannot read: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return make_error(Errc::kConfig, path + ": not a regular file");
  if (static_cast<std::size_t>(st.st_size) > cap) {
    return make_error(Errc::kConfig, path + ": larger than " + std::to_string(cap / 1024) + " KiB");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return make_error(Errc::kConfig, path + ": cannot read");
  return text.str();
}

}  // namespace sluice
