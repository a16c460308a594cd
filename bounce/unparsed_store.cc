#include "bounce/unparsed_store.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace sluice::bounce {
namespace {

// Closes the descriptor; unlinks the temporary file unless released.
class TempFile {
 public:
  TempFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  // Closes now; false (errno set) if close failed.
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }
  void release() { path_.clear(); }

 private:
  int fd_;
  std::string path_;
};

Error io_error(const std::string& what, const std::string& path) {
  return make_error(Errc::kIo, what + " " + path + ": " + std::strerror(errno));
}

Result<std::string> unique_name() {
  unsigned char random[8];
  if (RAND_bytes(random, sizeof random) != 1) return make_error(Errc::kIo, "no random bytes for a file name");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = std::to_string(std::time(nullptr)) + "." + std::to_string(::getpid()) + ".";
  for (unsigned char b : random) {
    name += kHex[b >> 4];
    name += kHex[b & 0xf];
  }
  return name + ".eml";
}

}  // namespace

Result<std::string> keep_unparsed(const std::string& dir, std::string_view message) {
  auto unique = unique_name();
  if (!unique) return unique.error();
  const std::string& name = *unique;
  const std::string final_path = dir + "/" + name;
  const std::string temp_path = dir + "/.tmp-" + name;
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return io_error("cannot create", temp_path);
  TempFile file(fd, temp_path);
  std::size_t done = 0;
  while (done < message.size()) {
    const ssize_t n = ::write(file.fd(), message.data() + done, message.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error("cannot write", temp_path);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(file.fd()) != 0) return io_error("cannot fsync", temp_path);
  if (!file.close()) return io_error("cannot close", temp_path);
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) return io_error("cannot rename to", final_path);
  file.release();
  return final_path;
}

}  // namespace sluice::bounce
