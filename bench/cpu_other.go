//go:build !unix

package main

import "time"

// processCPU is unknown off Unix: the live table shows no CPU per request there.
func processCPU() time.Duration { return 0 }
