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

}  // namespace gm::sched
