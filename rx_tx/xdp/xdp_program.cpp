#include "rx_tx/xdp/xdp_program.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

namespace flowgate {

// The compiled flowgate_xdp.bpf.c, generated into the build tree by embed_object.cmake.
extern const std::span<const unsigned char> kFlowgateXdpObject;

namespace {

constexpr const char* kProgramName = "flowgate_xdp";
// The name libxdp gives its dispatcher program in the kernel.
constexpr const char* kDispatcherName = "xdp_dispatcher";
constexpr const char* kBpffsPath = "/sys/fs/bpf";

// Keep in step with the FG_* constants of flowgate_xdp.bpf.c.
constexpr uint32_t kAddrAll = 1;
constexpr uint32_t kAddrPortsOnly = 0;
constexpr uint32_t kPortTcp = 1;
constexpr uint32_t kPortUdp = 2;
enum StatIndex : uint32_t { kRedirected = 0, kPassed = 1, kRedirectFailed = 2, kParseErrors = 3 };

std::string describe(int err) {
  return std::strerror(err < 0 ? -err : err);
}

// libxdp and libbpf report the detail of a failure (a verifier log, "No bpffs found") only
// through their print callbacks. While a LogCapture lives, warnings are collected so that an
// XdpError can carry them; otherwise warnings go to stderr and chatter is dropped. The
// callbacks are process-wide C function pointers, so the buffer is a thread-local: the one
// piece of global state here, owned by whichever LogCapture is active on this thread.
thread_local std::string* active_capture = nullptr;

void record(bool warning, const char* format, va_list args) {
  if (!warning) return;
  char line[1024];
  std::vsnprintf(line, sizeof line, format, args);
  if (active_capture != nullptr) {
    *active_capture += line;
  } else {
    std::fputs(line, stderr);
  }
}

int libxdp_print(enum libxdp_print_level level, const char* format, va_list args) {
  record(level == LIBXDP_WARN, format, args);
  return 0;
}

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  record(level == LIBBPF_WARN, format, args);
  return 0;
}

class LogCapture {
 public:
  LogCapture() : previous_(active_capture) {
    libxdp_set_print(libxdp_print);
    libbpf_set_print(libbpf_print);
    active_capture = &text_;
  }
  ~LogCapture() { active_capture = previous_; }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // The last few lines, for an error message: enough to name the cause without pasting a
  // whole verifier log.
  std::string tail() const {
    std::vector<std::string> lines;
    size_t begin = 0;
    while (begin < text_.size()) {
      size_t end = text_.find('\n', begin);
      if (end == std::string::npos) end = text_.size();
      if (end > begin) lines.push_back(text_.substr(begin, end - begin));
      begin = end + 1;
    }
    std::string out;
    for (size_t i = lines.size() > 3 ? lines.size() - 3 : 0; i < lines.size(); ++i) {
      if (!out.empty()) out += "; ";
      out += lines[i];
    }
    return out;
  }

 private:
  std::string text_;
  std::string* previous_;
};

std::string with_log(std::string message, const LogCapture& log) {
  const std::string tail = log.tail();
  if (!tail.empty()) message += " [libxdp: " + tail + "]";
  return message;
}

uint32_t mode_flag(XdpAttachMode mode) {
  return mode == XdpAttachMode::native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

enum xdp_attach_mode libxdp_mode(XdpAttachMode mode) {
  return mode == XdpAttachMode::native ? XDP_MODE_NATIVE : XDP_MODE_SKB;
}

int ifindex_of(const std::string& interface) {
  const unsigned index = ::if_nametoindex(interface.c_str());
  if (index == 0) {
    throw XdpError("interface " + interface + ": not found (" + describe(errno) + ")");
  }
  return static_cast<int>(index);
}

// Closes a BPF object fd on every path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string program_name(uint32_t id) {
  Fd fd(bpf_prog_get_fd_by_id(id));
  if (fd.get() < 0) return "?";
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return "?";
  return info.name;
}

// The programs that libxdp's dispatcher `dispatcher_id` runs, found from the kernel's side:
// each is an freplace program whose tracing link targets the dispatcher. This works whether
// or not bpffs (where libxdp keeps its own record) is mounted.
std::vector<uint32_t> dispatcher_components(uint32_t dispatcher_id) {
  std::vector<uint32_t> programs;
  uint32_t link_id = 0;
  while (bpf_link_get_next_id(link_id, &link_id) == 0) {
    Fd fd(bpf_link_get_fd_by_id(link_id));
    if (fd.get() < 0) continue;  // gone meanwhile
    bpf_link_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
    if (info.type == BPF_LINK_TYPE_TRACING && info.tracing.target_obj_id == dispatcher_id) {
      programs.push_back(info.prog_id);
    }
  }
  return programs;
}

// What is attached to an interface, in the terms attach() and detach_stale() decide on.
struct Attached {
  struct Program {
    uint32_t id = 0;
    std::string name;
  };
  struct Slot {  // the one program of an attach mode, and what it runs
    uint32_t id = 0;
    uint32_t xdp_flag = 0;  // XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE
    bool dispatcher = false;
    std::vector<Program> programs;  // the program itself, or a dispatcher's components
  };
  std::vector<Slot> slots;

  bool has_flowgate() const {
    for (const Slot& s : slots) {
      for (const Program& p : s.programs) {
        if (p.name == kProgramName) return true;
      }
    }
    return false;
  }
  // "prog_a (id 12, native), prog_b (id 13 under xdp_dispatcher, skb)"
  std::string foreign() const {
    std::string out;
    for (const Slot& s : slots) {
      const char* mode = s.xdp_flag == XDP_FLAGS_DRV_MODE ? "native" : "skb";
      for (const Program& p : s.programs) {
        if (p.name == kProgramName) continue;
        if (!out.empty()) out += ", ";
        out += (p.name.empty() ? "unnamed" : p.name) + " (id " + std::to_string(p.id) +
               (s.dispatcher ? " under libxdp's dispatcher, " : ", ") + mode + ")";
      }
    }
    return out;
  }
};

Attached inspect(const std::string& interface, int ifindex) {
  bpf_xdp_query_opts query{};
  query.sz = sizeof query;
  const int err = bpf_xdp_query(ifindex, 0, &query);
  if (err != 0) {
    throw XdpError("interface " + interface + ": cannot query its XDP programs: " + describe(err));
  }
  Attached attached;
  for (const auto& [id, flag] : {std::pair{query.drv_prog_id, uint32_t{XDP_FLAGS_DRV_MODE}},
                                 std::pair{query.skb_prog_id, uint32_t{XDP_FLAGS_SKB_MODE}}}) {
    if (id == 0) continue;
    Attached::Slot slot;
    slot.id = id;
    slot.xdp_flag = flag;
    const std::string name = program_name(id);
    if (name == kDispatcherName) {
      slot.dispatcher = true;
      for (const uint32_t component : dispatcher_components(id)) {
        slot.programs.push_back({component, program_name(component)});
      }
    } else {
      slot.programs.push_back({id, name});
    }
    attached.slots.push_back(std::move(slot));
  }
  return attached;
}

// Removes a dispatcher through libxdp, which also deletes its record in bpffs; if libxdp cannot
// see it (no bpffs in this process), through the kernel directly. Returns 0 or -errno.
int remove_dispatcher(int ifindex, uint32_t xdp_flag) {
  struct xdp_multiprog* multiprog = xdp_multiprog__get_from_ifindex(ifindex);
  if (multiprog != nullptr && libxdp_get_error(multiprog) == 0) {
    const int err = xdp_multiprog__detach(multiprog);
    xdp_multiprog__close(multiprog);
    if (err == 0) return 0;
  }
  const int err = bpf_xdp_detach(ifindex, xdp_flag, nullptr);
  // Pins of a dispatcher that no longer exists; harmless if there are none.
  (void)libxdp_clean_references(ifindex);
  return err;
}

// Removes only our components from a dispatcher that also runs someone else's programs.
int remove_components(int ifindex, XdpAttachMode mode) {
  struct xdp_multiprog* multiprog = xdp_multiprog__get_from_ifindex(ifindex);
  if (multiprog == nullptr || libxdp_get_error(multiprog) != 0) return -ENOENT;
  int result = 0;
  for (struct xdp_program* p = xdp_multiprog__next_prog(nullptr, multiprog); p != nullptr;
       p = xdp_multiprog__next_prog(p, multiprog)) {
    if (std::strcmp(xdp_program__name(p), kProgramName) != 0) continue;
    const int err = xdp_program__detach(p, ifindex, libxdp_mode(mode), 0);
    if (err != 0) result = err;
  }
  xdp_multiprog__close(multiprog);
  return result;
}

bool remove_stale(const std::string& interface, int ifindex, const Attached& attached) {
  bool found = false;
  for (const Attached::Slot& slot : attached.slots) {
    bool ours = false;
    bool theirs = false;
    for (const Attached::Program& p : slot.programs) {
      (p.name == kProgramName ? ours : theirs) = true;
    }
    if (!ours) continue;
    found = true;
    const XdpAttachMode mode =
        slot.xdp_flag == XDP_FLAGS_DRV_MODE ? XdpAttachMode::native : XdpAttachMode::skb;
    int err = 0;
    if (!slot.dispatcher) {
      err = bpf_xdp_detach(ifindex, slot.xdp_flag, nullptr);
    } else if (!theirs) {
      err = remove_dispatcher(ifindex, slot.xdp_flag);
    } else {
      err = remove_components(ifindex, mode);
    }
    if (err != 0) {
      throw XdpError("interface " + interface + ": cannot remove the stale " + kProgramName + " (" +
                     to_string(mode) + " mode) left by an earlier run: " + describe(err));
    }
  }
  return found;
}

std::string attach_hint(int err, XdpAttachMode mode) {
  switch (err < 0 ? -err : err) {
    case EOPNOTSUPP:
      return mode == XdpAttachMode::native ? " (the driver has no native XDP; set xdp_mode: skb)"
                                           : "";
    case EPERM:
    case EACCES:
      return " (needs root, or CAP_NET_ADMIN, CAP_BPF and CAP_PERFMON)";
    case EBUSY:
    case EEXIST:
      return " (another XDP program was attached meanwhile)";
    case EINVAL:
      return mode == XdpAttachMode::native
                 ? " (the driver refused native XDP: MTU too large, or too few queues?; "
                   "xdp_mode: skb works everywhere)"
                 : "";
    default:
      return "";
  }
}

void update(int map_fd, const void* key, const void* value, const std::string& what) {
  if (bpf_map_update_elem(map_fd, key, value, BPF_ANY) != 0) {
    throw XdpError("cannot " + what + " in the XDP maps: " + describe(errno));
  }
}

}  // namespace

const char* to_string(XdpAttachMode mode) {
  return mode == XdpAttachMode::native ? "native" : "skb";
}

std::unique_ptr<XdpProgram> XdpProgram::attach(const std::string& interface, XdpAttachMode mode) {
  const int ifindex = ifindex_of(interface);
  const std::string where = "interface " + interface + ": ";
  const std::string what =
      std::string("cannot attach the XDP program in ") + to_string(mode) + " mode: ";
  LogCapture log;

  const Attached before = inspect(interface, ifindex);
  const std::string foreign = before.foreign();
  if (!foreign.empty()) {
    throw XdpError(where + what + "another XDP program is attached: " + foreign +
                   "; flowgate never replaces someone else's program (remove it with `xdp-loader "
                   "unload " +
                   interface + " --all` or `ip link set dev " + interface +
                   " xdp off` (native) / `xdpgeneric off` (skb), or use another interface)");
  }
  remove_stale(interface, ifindex, before);

  std::unique_ptr<XdpProgram> self(new XdpProgram());
  self->interface_ = interface;
  self->ifindex_ = ifindex;
  self->mode_ = mode;

  bpf_object_open_opts open_opts{};
  open_opts.sz = sizeof open_opts;
  open_opts.object_name = kProgramName;
  self->object_ =
      bpf_object__open_mem(kFlowgateXdpObject.data(), kFlowgateXdpObject.size(), &open_opts);
  if (self->object_ == nullptr || libbpf_get_error(self->object_) != 0) {
    const int err =
        self->object_ == nullptr ? errno : static_cast<int>(libbpf_get_error(self->object_));
    self->object_ = nullptr;
    throw XdpError(
        with_log(where + what + "the embedded BPF object does not open: " + describe(err), log));
  }

  xdp_program_opts program_opts{};
  program_opts.sz = sizeof program_opts;
  program_opts.obj = self->object_;
  program_opts.prog_name = kProgramName;
  struct xdp_program* program = xdp_program__create(&program_opts);
  if (program == nullptr || libxdp_get_error(program) != 0) {
    const long err = program == nullptr ? errno : libxdp_get_error(program);
    throw XdpError(with_log(
        where + what + "libxdp cannot use the embedded program: " + describe(static_cast<int>(err)),
        log));
  }
  self->program_ = program;

  const int err = xdp_program__attach(program, ifindex, libxdp_mode(mode), 0);
  if (err != 0) {
    throw XdpError(with_log(where + what + describe(err) + attach_hint(err, mode), log));
  }
  self->attached_ = true;

  const Attached after = inspect(interface, ifindex);
  for (const Attached::Slot& slot : after.slots) {
    if (slot.xdp_flag == mode_flag(mode)) self->uses_dispatcher_ = slot.dispatcher;
  }

  auto map_fd = [&](const char* name) {
    const int fd = bpf_object__find_map_fd_by_name(self->object_, name);
    if (fd < 0) {
      throw XdpError(where + "the loaded XDP program has no map " + name + ": " + describe(fd));
    }
    return fd;
  };
  self->xsks_map_fd_ = map_fd("xsks_map");
  self->addrs_map_fd_ = map_fd("flowgate_addrs");
  self->ports_map_fd_ = map_fd("flowgate_ports");
  self->stats_map_fd_ = map_fd("flowgate_stats");
  return self;
}

XdpProgram::~XdpProgram() {
  try {
    detach();
  } catch (const XdpError& e) {
    std::fprintf(stderr, "flowgate: %s\n", e.what());
  }
  // The maps and the program die with their last fd; the object owns them all.
  if (program_ != nullptr) xdp_program__close(program_);
  if (object_ != nullptr) bpf_object__close(object_);
}

void XdpProgram::detach() {
  if (!attached_) return;
  attached_ = false;
  LogCapture log;
  const int err = xdp_program__detach(program_, ifindex_, libxdp_mode(mode_), 0);
  // ENOENT/ENODEV: someone removed it already, or the interface is gone; either way it is
  // not attached any more.
  if (err != 0 && err != -ENOENT && err != -ENODEV) {
    throw XdpError(with_log("interface " + interface_ + ": cannot detach the XDP program (" +
                                to_string(mode_) + " mode): " + describe(err),
                            log));
  }
}

void XdpProgram::set_address(wire::Ipv4Address address, bool all_traffic) {
  const uint32_t key = htonl(address.value);
  const uint32_t flags = all_traffic ? kAddrAll : kAddrPortsOnly;
  update(addrs_map_fd_, &key, &flags, "add address " + address.to_string());
}

void XdpProgram::remove_address(wire::Ipv4Address address) {
  const uint32_t key = htonl(address.value);
  if (bpf_map_delete_elem(addrs_map_fd_, &key) != 0 && errno != ENOENT) {
    throw XdpError("cannot remove address " + address.to_string() +
                   " from the XDP maps: " + describe(errno));
  }
}

void XdpProgram::set_port(uint8_t ip_protocol, uint16_t port, bool ours) {
  uint32_t bit = 0;
  if (ip_protocol == IPPROTO_TCP) {
    bit = kPortTcp;
  } else if (ip_protocol == IPPROTO_UDP) {
    bit = kPortUdp;
  } else {
    throw XdpError("set_port: IP protocol " + std::to_string(ip_protocol) +
                   " has no ports (6 TCP, 17 UDP)");
  }
  const uint32_t key = port;
  uint32_t marks = 0;
  if (bpf_map_lookup_elem(ports_map_fd_, &key, &marks) != 0) {
    throw XdpError("cannot read port " + std::to_string(port) +
                   " in the XDP maps: " + describe(errno));
  }
  marks = ours ? (marks | bit) : (marks & ~bit);
  update(ports_map_fd_, &key, &marks, "mark port " + std::to_string(port));
}

XdpProgram::Stats XdpProgram::stats() const {
  const int cpus = libbpf_num_possible_cpus();
  Stats total;
  if (cpus <= 0) return total;
  // A per-CPU map returns one value per possible CPU, each padded to 8 bytes.
  std::vector<uint64_t> values(static_cast<size_t>(cpus));
  auto sum = [&](uint32_t index) {
    uint64_t s = 0;
    if (bpf_map_lookup_elem(stats_map_fd_, &index, values.data()) != 0) return s;
    for (const uint64_t v : values) s += v;
    return s;
  };
  total.redirected = sum(kRedirected);
  total.passed = sum(kPassed);
  total.redirect_failed = sum(kRedirectFailed);
  total.parse_errors = sum(kParseErrors);
  return total;
}

bool XdpProgram::detach_stale(const std::string& interface) {
  const int ifindex = ifindex_of(interface);
  LogCapture log;
  return remove_stale(interface, ifindex, inspect(interface, ifindex));
}

std::string ensure_bpffs() {
  struct statfs fs {};
  if (::statfs(kBpffsPath, &fs) == 0 && static_cast<unsigned long>(fs.f_type) == BPF_FS_MAGIC) {
    return {};
  }
  if (::mkdir(kBpffsPath, 0700) != 0 && errno != EEXIST) {
    return std::string("cannot create ") + kBpffsPath + ": " + describe(errno);
  }
  // mode=0700: the pins libxdp keeps there control what runs on the NIC.
  if (::mount("bpf", kBpffsPath, "bpf", 0, "mode=0700") != 0) {
    return std::string("cannot mount bpffs at ") + kBpffsPath + ": " + describe(errno) +
           (errno == EPERM ? " (needs root or CAP_SYS_ADMIN)" : "");
  }
  return {};
}

}  // namespace flowgate
