// libpq, loaded on first use (dlopen) rather than linked: berth-hub needs it
// only with `--database postgres://...` (the default is SQLite), and linking
// it maps ~17 more shared libraries (Kerberos, LDAP, SASL, GnuTLS, ...) into
// every hub, about half of its idle RSS. libpq-fe.h is used for types and
// constants only; calls go through pq().
#pragma once

#include <libpq-fe.h>

namespace berth::hub {

#define BERTH_LIBPQ_FUNCTIONS(X) \
  X(PQclear) \
  X(PQcmdStatus) \
  X(PQcmdTuples) \
  X(PQconnectdbParams) \
  X(PQerrorMessage) \
  X(PQexec) \
  X(PQexecParams) \
  X(PQfinish) \
  X(PQftype) \
  X(PQgetisnull) \
  X(PQgetlength) \
  X(PQgetvalue) \
  X(PQnfields) \
  X(PQntuples) \
  X(PQreset) \
  X(PQresultErrorField) \
  X(PQresultStatus) \
  X(PQsetNoticeProcessor) \
  X(PQsocket) \
  X(PQstatus) \
  X(PQtransactionStatus)

struct Libpq {
#define BERTH_DECLARE(name) decltype(&::name) name = nullptr;
  BERTH_LIBPQ_FUNCTIONS(BERTH_DECLARE)
#undef BERTH_DECLARE
};

// Loads libpq.so.5 once (thread-safe); later calls return the same table.
// Throws Error "PostgreSQL support needs libpq5: ..." when the library or
// one of its symbols is missing, and again on every later call.
const Libpq& pq();

}  // namespace berth::hub
