#include "apps/http/document_root.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "apps/http/content_type.hpp"
#include "apps/http/request_path.hpp"

namespace flowgate::http {

namespace {

// openat2 returns EAGAIN when a rename elsewhere raced with a RESOLVE_BENEATH lookup (the
// kernel cannot then prove the result is beneath); a retry or two settles it.
constexpr int kOpenAttempts = 3;

int status_for_errno(int error) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV:  // the resolution would leave the root (a link pointing outside)
    case ELOOP:  // a link loop, or a magic link
      return 404;
    case EACCES:
    case EPERM:
      return 403;
    case ENAMETOOLONG:
      return 414;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EAGAIN:
      return 503;
    default:
      return 500;
  }
}

}  // namespace

DocumentRoot::DocumentRoot(const std::string& directory, std::string index)
    : directory_(directory), index_(std::move(index)) {
  root_fd_ = ::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "http root " + directory);
  }
  // Find out now, not on the first request, whether the kernel can do what we rely on.
  const int probe = open_beneath(".", O_PATH);
  if (probe < 0) {
    const int error = errno;
    ::close(root_fd_);
    throw std::system_error(error, std::generic_category(),
                            "http root " + directory + ": openat2 (needs Linux 5.6)");
  }
  ::close(probe);
}

DocumentRoot::~DocumentRoot() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

int DocumentRoot::open_beneath(const std::string& relative, uint64_t flags) const {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = -1;
  for (int attempt = 0; attempt < kOpenAttempts; ++attempt) {
    fd = ::syscall(SYS_openat2, root_fd_, relative.c_str(), &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  return static_cast<int>(fd);
}

DocumentRoot::File DocumentRoot::open(std::string_view encoded_path) const {
  File file;
  const RelativePath relative = relative_path(encoded_path);
  if (relative.problem != PathProblem::none) {
    file.status = 400;
    return file;
  }
  // First O_PATH, which opens nothing (no read permission needed, no side effect of opening
  // a device or a FIFO) but lets fstat say what the name is.
  std::string name = relative.path.empty() ? "." : relative.path;
  struct stat st {};
  if (!stat_beneath(name, st, file.status)) return file;
  if (S_ISDIR(st.st_mode)) {
    // A directory is served by its index file, looked up from the root again so that the
    // index may be a link anywhere beneath the root, not only beneath this directory.
    name = relative.path.empty() ? index_ : relative.path + "/" + index_;
    if (!stat_beneath(name, st, file.status)) return file;
  }
  if (!S_ISREG(st.st_mode)) {
    file.status = 404;  // a FIFO, socket or device, or an index that is a directory
    return file;
  }
  const int fd = open_beneath(name, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    file.status = status_for_errno(errno);
    return file;
  }
  // The name may have been replaced between the two opens (by the operator: the tree is
  // theirs); whatever it is now must still be a regular file.
  if (::fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    file.status = 404;
    return file;
  }
  file.status = 200;
  file.fd = fd;
  file.size = static_cast<uint64_t>(st.st_size);
  file.content_type = content_type_for_extension(extension_of(name));
  return file;
}

bool DocumentRoot::stat_beneath(const std::string& relative, struct stat& st, int& status) const {
  const int fd = open_beneath(relative, O_PATH);
  if (fd < 0) {
    status = status_for_errno(errno);
    return false;
  }
  const bool ok = ::fstat(fd, &st) == 0;
  if (!ok) status = status_for_errno(errno);
  ::close(fd);
  return ok;
}

}  // namespace flowgate::http
