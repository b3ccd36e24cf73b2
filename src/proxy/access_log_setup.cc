#include "proxy/access_log_setup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <system_error>

namespace waygate::proxy {
namespace {

const std::vector<routing::AccessLogPiece>& default_pieces() {
  static const std::vector<routing::AccessLogPiece> pieces =
      routing::parse_access_log_template(routing::kDefaultAccessLogTemplate).pieces;
  return pieces;
}

std::shared_ptr<const AccessLogFile> open_file(const std::string& path, std::string* error) {
  if (path == "stdout") return std::make_shared<const AccessLogFile>(path, STDOUT_FILENO, false);
  if (path == "stderr") return std::make_shared<const AccessLogFile>(path, STDERR_FILENO, false);
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "access_log " + path + ": " + std::generic_category().message(errno);
    return nullptr;
  }
  return std::make_shared<const AccessLogFile>(path, fd, true);
}

}  // namespace

AccessLogFile::AccessLogFile(std::string path, int fd, bool owned)
    : path_(std::move(path)), fd_(fd), owned_(owned), write_block_(PIPE_BUF) {
  struct stat info;
  if (::fstat(fd_, &info) == 0 && S_ISREG(info.st_mode)) write_block_ = SIZE_MAX;
}

AccessLogFile::~AccessLogFile() {
  if (owned_) ::close(fd_);
}

bool open_access_log_files(std::span<const routing::AccessLogConfig* const> logs,
                           const AccessLogSetup* running, bool reopen, AccessLogFiles* files,
                           std::string* error) {
  auto find = [](const AccessLogFiles& in, const std::string& path) {
    for (const auto& file : in) {
      if (file->path() == path) return file;
    }
    return std::shared_ptr<const AccessLogFile>();
  };
  for (const routing::AccessLogConfig* log : logs) {
    if (log->path == "off" || find(*files, log->path)) continue;
    std::shared_ptr<const AccessLogFile> kept = running ? find(running->files, log->path) : nullptr;
    std::shared_ptr<const AccessLogFile> file;
    if (kept && (!reopen || !kept->owned())) {
      file = kept;
    } else {
      std::string failed;
      file = open_file(log->path, &failed);
      if (!file && !kept) {
        *error = failed;
        return false;
      }
      if (!file) {
        error->append(error->empty() ? "" : "; ")
            .append(failed)
            .append(", still writing to the file open before");
        file = kept;
      }
    }
    files->push_back(std::move(file));
  }
  return true;
}

std::shared_ptr<const AccessLogSetup> make_access_log_setup(
    AccessLogFiles files, std::span<const AccessLogTarget> targets) {
  auto setup = std::make_shared<AccessLogSetup>();
  setup->files = std::move(files);
  for (const AccessLogTarget& target : targets) {
    if (target.slot >= setup->listeners.size()) setup->listeners.resize(target.slot + 1);
    AccessLogSetup::Listener& listener = setup->listeners[target.slot];
    const routing::AccessLogConfig& log = *target.log;
    listener.name = target.name;
    listener.file = -1;
    for (size_t i = 0; i < setup->files.size() && log.path != "off"; ++i) {
      if (setup->files[i]->path() == log.path) listener.file = static_cast<int32_t>(i);
    }
    listener.json = log.format == routing::AccessLogConfig::Format::kJson;
    if (!listener.json) listener.pieces = log.pieces.empty() ? default_pieces() : log.pieces;
  }
  return setup;
}

}  // namespace waygate::proxy
