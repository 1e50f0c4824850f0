// socklab::net — the common socket library. See socklab/net/error.hpp for the error model.
#pragma once

#include "socklab/net/call_recorder.hpp"
#include "socklab/net/endpoint.hpp"
#include "socklab/net/error.hpp"
#include "socklab/net/framing.hpp"
#include "socklab/net/socket.hpp"
#include "socklab/net/tcp.hpp"
#include "socklab/net/tcp_state.hpp"
#include "socklab/net/udp.hpp"
#include "socklab/net/unix.hpp"
