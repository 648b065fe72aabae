package xdp

// The generated filter_bpfel.go and filter_bpfel.o are committed; `go tool task
// gen-xdp` regenerates them (clang and libbpf-dev from Debian) and CI fails when
// they differ from the C source's output.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -target bpfel -type config -type deny_val -type bucket_key -type lpm_v4 -type lpm_v6 filter filter.c
