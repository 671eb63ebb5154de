// Pinned network namespaces, as `ip netns add` makes them: a namespace
// created before the container's process exists and kept alive by a bind
// mount of its nsfs file at a path. The runtime joins it through the OCI
// spec's namespace path; berthd configures it before the container runs and
// after it exits, and finds it again after a daemon restart.
//
// Contract:
// - create_netns(path) makes a new network namespace with `lo` up, pinned
//   at path (the file is created; its directory must exist). Fails with
//   context when path is already a pinned namespace.
// - remove_netns(path) unmounts and unlinks; a missing path is not an error.
// - run_in_netns(path, fn) runs fn on a short-lived thread that has joined
//   the namespace (setns); the caller's thread never changes namespace, so
//   other threads of the daemon are unaffected. fn's exception is rethrown.
#pragma once

#include <functional>
#include <string>

namespace berth::network {

void create_netns(const std::string& path);
void remove_netns(const std::string& path);
bool is_netns(const std::string& path);  // a pinned namespace lives at path
void run_in_netns(const std::string& path, const std::function<void()>& fn);

}  // namespace berth::network
