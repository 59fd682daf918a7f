// MPI collectives for the trainer.
#include "comm.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

namespace ddp {

MpiSession::MpiSession(int* argc, char*** argv) { MPI_Init(argc, argv); }
MpiSession::~MpiSession() { MPI_Finalize(); }

Comm Comm::World() {
  Comm c;
  MPI_Comm_rank(c.comm_, &c.rank_);
  MPI_Comm_size(c.comm_, &c.size_);
  MPI_Comm_split_type(c.comm_, MPI_COMM_TYPE_SHARED, c.rank_, MPI_INFO_NULL, &c.local_comm_);
  MPI_Comm_rank(c.local_comm_, &c.local_rank_);
  MPI_Comm_size(c.local_comm_, &c.local_size_);
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  c.host_.assign(name, static_cast<size_t>(len));
  return c;
}

void Comm::AllreduceSum(float* data, int64_t n) const {
  if (size_ == 1) return;
  for (int64_t done = 0; done < n;) {
    const int chunk = static_cast<int>(std::min<int64_t>(n - done, INT_MAX));
    MPI_Allreduce(MPI_IN_PLACE, data + done, chunk, MPI_FLOAT, MPI_SUM, comm_);
    done += chunk;
  }
}

void Comm::AllreduceSum(double* data, int n) const {
  if (size_ > 1) MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_DOUBLE, MPI_SUM, comm_);
}

void Comm::AllreduceSum(int64_t* data, int n) const {
  if (size_ > 1) MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_INT64_T, MPI_SUM, comm_);
}

int Comm::AllreduceMax(int v) const {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, comm_);
  return v;
}

int Comm::AllreduceMin(int v) const {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MIN, comm_);
  return v;
}

void Comm::Broadcast(void* data, int64_t n, int root) const {
  auto* p = static_cast<char*>(data);
  for (int64_t done = 0; done < n;) {
    const int chunk = static_cast<int>(std::min<int64_t>(n - done, INT_MAX));
    MPI_Bcast(p + done, chunk, MPI_BYTE, root, comm_);
    done += chunk;
  }
}

void Comm::Broadcast(std::string* bytes, int root) const {
  int64_t n = static_cast<int64_t>(bytes->size());
  MPI_Bcast(&n, 1, MPI_INT64_T, root, comm_);
  bytes->resize(static_cast<size_t>(n));
  Broadcast(bytes->data(), n, root);
}

bool Comm::AnyFailed(const Status& local, const std::string& what) const {
  const int first_failing = AllreduceMin(local.ok() ? size_ : rank_);
  if (first_failing == size_) return false;
  if (first_failing == rank_) {
    std::string where = size_ > 1 ? " (rank " + std::to_string(rank_) + " on " + host_ + ")" : "";
    std::fprintf(stderr, "ddp_train: %s%s%s\n", what.c_str(), local.message().c_str(), where.c_str());
    std::fflush(stderr);
  }
  return true;
}

void Comm::Abort(const std::string& message) const {
  std::fprintf(stderr, "ddp_train: rank %d: %s\n", rank_, message.c_str());
  std::fflush(stderr);
  MPI_Abort(comm_, 1);
  std::exit(1);
}

}  // namespace ddp
