// The access-log files the control thread has opened and which listener writes what to which,
// handed to every worker as one immutable object. A file is closed when the last setup holding it
// goes; the Server keeps a replaced setup until every worker has moved on from it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "routing/config.h"

namespace waygate::proxy {

class AccessLogFile {
 public:
  // `owned`: the fd is closed with this object (a file; not stdout or stderr).
  AccessLogFile(std::string path, int fd, bool owned);
  ~AccessLogFile();
  AccessLogFile(const AccessLogFile&) = delete;
  AccessLogFile& operator=(const AccessLogFile&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  bool owned() const { return owned_; }
  // The most bytes one write() may take so that lines from several workers never interleave:
  // any size for a regular file, whose writes Linux makes whole under the inode's lock; PIPE_BUF
  // for a pipe or a terminal.
  size_t write_block() const { return write_block_; }

 private:
  std::string path_;
  int fd_;
  bool owned_;
  size_t write_block_;
};

struct AccessLogSetup {
  struct Listener {
    std::string name;
    int32_t file = -1;  // index in files; -1: its log is off
    bool json = false;
    std::vector<routing::AccessLogPiece> pieces;  // the text line
  };
  std::vector<std::shared_ptr<const AccessLogFile>> files;
  std::vector<Listener> listeners;  // by metrics slot (ListenerChange::metrics_slot)
};

using AccessLogFiles = std::vector<std::shared_ptr<const AccessLogFile>>;

// Opens each file these logs name once, however many name it. A file `running` has open already
// is kept, unless `reopen` (SIGUSR1: a file renamed by log rotation is opened anew at its path).
// When a file cannot be opened, returns false with *error naming it; when reopening, the file
// open before is kept instead, and *error says so.
bool open_access_log_files(std::span<const routing::AccessLogConfig* const> logs,
                           const AccessLogSetup* running, bool reopen, AccessLogFiles* files,
                           std::string* error);

// A listener's name and the log it writes, at its metrics slot.
struct AccessLogTarget {
  uint32_t slot;
  std::string name;
  const routing::AccessLogConfig* log;
};

// The setup for these targets, whose files are among `files`.
std::shared_ptr<const AccessLogSetup> make_access_log_setup(
    AccessLogFiles files, std::span<const AccessLogTarget> targets);

}  // namespace waygate::proxy
