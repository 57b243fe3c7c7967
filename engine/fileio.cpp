#include "engine/fileio.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "engine/tensor.h"

namespace qsr {

namespace {
void write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category());
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}
}  // namespace

void write_file_atomic(const std::string& path, const std::vector<ByteSpan>& pieces) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot write (" + std::strerror(errno) + ")");
  const char* step = "write";
  try {
    for (const ByteSpan& b : pieces) write_all(fd, b.data, b.size);
    step = "fsync";
    if (::fsync(fd) != 0) throw std::system_error(errno, std::generic_category());
    step = "close";
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) throw std::system_error(errno, std::generic_category());
    step = "rename";
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw std::system_error(errno, std::generic_category());
  } catch (const std::system_error& e) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(path + ": cannot write (" + step + ": " + std::strerror(e.code().value()) + ")");
  }
  // Best effort: make the rename itself durable.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, std::string_view text) {
  write_file_atomic(path, std::vector<ByteSpan>{{text.data(), text.size()}});
}

}  // namespace qsr
