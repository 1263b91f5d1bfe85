// Package samples holds the demo feeds: a few nights of one school owner, embedded so that
// `imsfeed demo` runs from any folder. The large-file generator is in samples/feedgen.
package samples

import "embed"

// Demo holds demo/night1.xml … demo/night5.xml.
//
//go:embed demo/*.xml
var Demo embed.FS
