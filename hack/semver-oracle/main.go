// Command semver-oracle answers constraint checks with the Go module that
// Flux uses (Masterminds semver v3), to produce golden data for Ferry's own
// implementation in crates/semver.
//
// Input on stdin: one case per line, "constraint<TAB>version".
// Output: one line per case, "constraint<TAB>version<TAB>result", where the
// result is true, false, bad-constraint or bad-version.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/Masterminds/semver/v3"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		constraint, version, ok := strings.Cut(in.Text(), "\t")
		if !ok {
			continue
		}
		result := "bad-constraint"
		if c, err := semver.NewConstraint(constraint); err == nil {
			if v, err := semver.NewVersion(version); err != nil {
				result = "bad-version"
			} else {
				result = fmt.Sprint(c.Check(v))
			}
		}
		fmt.Fprintf(out, "%s\t%s\t%s\n", constraint, version, result)
	}
}
