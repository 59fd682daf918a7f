// The ranks of the job and the few MPI collectives the trainer uses. Works
// the same under mpirun (any launcher: ssh, Slurm, GridMint's bridge) and as a
// single process started without mpirun (an MPI singleton).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>

#include "status.h"

namespace ddp {

// MPI_Init on construction, MPI_Finalize on destruction.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

class Comm {
 public:
  // MPI_COMM_WORLD, with the node-local rank and size found by splitting it
  // into shared-memory groups (needed to pick a GPU per rank).
  static Comm World();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  MPI_Comm handle() const { return comm_; }
  MPI_Comm local_handle() const { return local_comm_; }
  const std::string& host() const { return host_; }

  // In-place sums over all ranks.
  void AllreduceSum(float* data, int64_t n) const;
  void AllreduceSum(double* data, int n) const;
  void AllreduceSum(int64_t* data, int n) const;
  int AllreduceMax(int v) const;
  int AllreduceMin(int v) const;
  // Root's bytes on every rank.
  void Broadcast(std::string* bytes, int root) const;
  void Broadcast(void* data, int64_t n, int root) const;

  // True when any rank's status is an error. The lowest-numbered failing rank
  // prints its message (prefixed by `what`) so a job shows one error, not N.
  bool AnyFailed(const Status& local, const std::string& what) const;

  // Ends every rank of the job: for errors found mid-run on one rank only,
  // where the others would wait forever in the next collective.
  [[noreturn]] void Abort(const std::string& message) const;

 private:
  MPI_Comm comm_ = MPI_COMM_WORLD;
  MPI_Comm local_comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::string host_;
};

}  // namespace ddp
