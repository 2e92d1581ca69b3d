#pragma once
/* swarm: to be written. */
