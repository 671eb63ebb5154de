// Dropping start-up code pages from the shim's resident set.
//
// Contract: release_clean_image_pages() unmaps (MADV_DONTNEED) the pages of
// the shim's own executable that are mapped read-only and were never
// written (smaps "Anonymous: 0 kB"), so they are dropped from RSS and
// fault back in from the page cache only if used again. Start-up (argument
// parsing, runtime create/start, libc/libstdc++ initialisation) touches most
// of a static binary through the kernel's fault-around; the event loop needs
// a small part of it. Pages that relocation or RELRO wrote to are never
// touched, since dropping those would revert them to the file's bytes.
// Best effort: failures are ignored.
#pragma once

namespace berth::shim {

void release_clean_image_pages();

}  // namespace berth::shim
