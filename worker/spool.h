// UsageSpool: the worker's durable outbox of signed usage records.
//
// A record is spooled (and synced to disk) before it is first sent, resent
// until the controller acknowledges it, and only then deleted, so that
// neither a controller outage nor a `kill -9` of gmd loses one. The spool
// also hands out the node's usage sequence numbers, persisted, so they never
// repeat across restarts (the controller rejects an old sequence as a replay).
//
// Typical use in gmd, when a job attempt ends:
//   seq = spool->NextSeq();            // reserve (persisted)
//   record.seq = seq; signed = SignRecord(record, key);
//   spool->Append(signed);             // durable from here on
//   ... send Unacked() in seq order; on 200 or AlreadyExists: Ack(seq)
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/sql.h"
#include "common/status.h"
#include "common/usage_record.h"

namespace gm::worker {

class UsageSpool {
 public:
  // Opens or creates the spool database at `path` (SQLite, WAL,
  // synchronous=FULL; the files are made mode 0600). Errors: IOError (cannot
  // open or create: the directory must exist, or the file is not an SQLite
  // database), Corruption (an SQLite database that is not a spool).
  static Result<std::unique_ptr<UsageSpool>> Open(const std::string& path);

  UsageSpool(const UsageSpool&) = delete;
  UsageSpool& operator=(const UsageSpool&) = delete;

  // Reserves and returns the next sequence number (1, 2, ...), durably: a
  // number handed out is never handed out again, even if its record is never
  // appended (the controller accepts gaps). Errors: IOError.
  Result<int64_t> NextSeq();

  // Stores `record` under the seq it carries (record.record["seq"]; the
  // spool assigns nothing) and returns once it is synced to disk. Appending
  // the identical record again is a no-op (a retry after a crash). Also
  // raises the next NextSeq above this seq, should the caller have chosen it
  // itself. Errors: InvalidArgument (no integer seq >= 1, or the record
  // holds a float), AlreadyExists (a different record holds this seq),
  // IOError.
  Result<int64_t> Append(const SignedRecord& record);

  // Every record not yet acknowledged, in seq order: send them in this
  // order, so that the controller's "last seq" check stays meaningful.
  // Errors: IOError, Corruption (a stored record no longer parses).
  Result<std::vector<SignedRecord>> Unacked();

  // Deletes the record with `seq`: the controller has it. Acknowledging a seq
  // that was handed out but is no longer spooled is a no-op (a repeated ack).
  // Errors: NotFound (seq was never handed out or appended), IOError.
  Status Ack(int64_t seq);

 private:
  explicit UsageSpool(std::unique_ptr<SqlDb> db) : db_(std::move(db)) {}
  Result<int64_t> ReadNextSeq();  // mu_ held, inside a transaction

  std::mutex mu_;  // one connection: transactions must not interleave
  std::unique_ptr<SqlDb> db_;
};

}  // namespace gm::worker
