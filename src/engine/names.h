// Container names: docker's rules for user-given names and its
// "adjective_surname" generator for the rest.
#pragma once

#include <string>

namespace berth::engine {

// Throws Error "Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed".
void validate_container_name(const std::string& name);  // without the leading "/"
// A random "adjective_surname"; `attempt` > 0 appends a digit as docker does on collisions.
std::string random_container_name(int attempt);
// 64 random hex digits.
std::string random_id();

}  // namespace berth::engine
