// Static files beneath one directory, which no request can leave.
//
// The directory is opened once, when the service is built (before the worker drops its
// privileges, so a root-only path to it is fine); files are opened later as the worker's
// unprivileged user, so they must be readable by it (directories searchable: o+x, files o+r).
//
// Every request path is made relative (relative_path(): decoded once, dot segments removed,
// ".." above the root refused) and then opened with openat2(2) relative to the directory
// with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS. RESOLVE_BENEATH makes the kernel refuse any
// resolution that leaves the directory — an absolute path, a ".." above it, a symbolic link
// pointing outside (absolute or relative) — atomically, so no rename race can trick it the
// way a check-then-open would. Symbolic links that stay inside are followed (deliberately:
// sites commonly link within their tree, e.g. index.html -> v2/index.html); that is why the
// flags are not RESOLVE_NO_SYMLINKS. RESOLVE_NO_MAGICLINKS refuses /proc-style links, which
// could name any open file. A name is first opened O_PATH (no permission needed, no side
// effect even for a device or a FIFO) to learn what it is; only regular files are then opened
// for reading (O_NONBLOCK, and checked again), so nothing else in the tree is ever opened.
//
// The worker reads files with pread(2) on its event loop. That is a blocking disk read: a
// file that is not in the page cache stalls every connection of this worker for the time of
// the read. The files a gateway serves (a status page, benchmark payloads) are small and
// hot, and the alternatives (a thread pool, io_uring) cost more than they would save here;
// sendfile(2) is no option, our sockets are not the kernel's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

struct stat;

namespace flowgate::http {

class DocumentRoot {
 public:
  // Opens `directory` (O_PATH | O_DIRECTORY); throws std::system_error naming it when it
  // cannot, or when the kernel has no openat2 (Linux < 5.6). `index` is the file served for
  // a directory.
  DocumentRoot(const std::string& directory, std::string index);
  ~DocumentRoot();
  DocumentRoot(const DocumentRoot&) = delete;
  DocumentRoot& operator=(const DocumentRoot&) = delete;

  struct File {
    // 200, or the status to answer instead: 400 (bad encoding, NUL, ".." above the root),
    // 403 (not readable by us), 404 (missing, not a regular file, a directory without an
    // index, or a link that leaves the root), 414 (a name the file system finds too long),
    // 503 (out of file descriptors or memory), 500 (anything else).
    int status = 500;
    int fd = -1;  // when status is 200: open for reading; the caller closes it
    uint64_t size = 0;
    std::string_view content_type;
  };

  // Opens the file a request path (still percent-encoded, starting with '/') names.
  File open(std::string_view encoded_path) const;

 private:
  // openat2 beneath the root with `flags` (O_CLOEXEC added); -1 with errno on failure.
  int open_beneath(const std::string& relative, uint64_t flags) const;
  // fstat of what `relative` names (opened O_PATH); false with `status` set on failure.
  bool stat_beneath(const std::string& relative, struct stat& st, int& status) const;

  std::string directory_;
  std::string index_;
  int root_fd_ = -1;
};

}  // namespace flowgate::http
