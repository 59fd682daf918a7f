// JSON forms of the scheduler core's records: how gmctld stores jobs and
// nodes in its database and sends them to gm and gmd. Field names are frozen.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "scheduler/core.h"

namespace gm::sched {

void to_json(nlohmann::json& j, const NodeAlloc& a);
void from_json(const nlohmann::json& j, NodeAlloc& a);
void to_json(nlohmann::json& j, const Attempt& a);
void from_json(const nlohmann::json& j, Attempt& a);
void to_json(nlohmann::json& j, const Job& job);      // everything, spec included
void from_json(const nlohmann::json& j, Job& job);
void to_json(nlohmann::json& j, const Node& n);       // description; usage is derived, not stored
void from_json(const nlohmann::json& j, Node& n);

// What squeue/sacct need of a job, without its script and environment.
nlohmann::json JobSummary(const Job& job, const std::function<const Node*(const std::string&)>& find_node);
// A node as gm sinfo / gm node list show it, usage included.
nlohmann::json NodeSummary(const Node& n);

// The market per GPU model, as `gm market` shows it: {"models": [{model,
// nodes, gpus, gpus_free, lowest_ask, median_ask, jobs_waiting,
// utilisation}], "any_model_waiting": N}. Counted over nodes that take work
// (up, verified, not draining); asks are per GPU-hour in micro-tokens, the
// median the lower middle one; utilisation is (gpus − gpus_free) / gpus;
// jobs_waiting counts pending jobs that ask for that model (gpu_type, case
// as Slurm's gres types: ignored), any_model_waiting those asking GPUs of
// any model. Models sorted by name.
nlohmann::json MarketSummary(const std::vector<Node>& nodes, const std::map<int64_t, Job>& jobs);

}  // namespace gm::sched
