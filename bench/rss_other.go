//go:build !unix

package main

import "os"

// maxRSS is unknown off Unix; the table shows it as "?".
func maxRSS(*os.ProcessState) int64 { return 0 }
