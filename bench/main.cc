#include "llmk/bench.h"

int main(int argc, char** argv) { return llmk::bench::bench_main(argc, argv); }
