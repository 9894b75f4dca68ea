// Command helm-index-oracle loads Helm repository indexes the way Flux's
// source-controller does (internal/helm/repository.IndexFromBytes: JSON or
// strict YAML, invalid versions dropped, entries sorted) and prints what
// Flux stores as the HelmRepository artifact: the index as indented JSON.
// It produces the golden files of Ferry's own implementation in
// controllers/source/src/helmrepository/index.rs.
//
// Usage: helm-index-oracle IN OUT; OUT gets the JSON, or "error: ..." when
// Flux refuses the index.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	in, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var out []byte
	defer func() {
		// Helm's sort dereferences a null entry among others and panics;
		// Flux's controller recovers it as a failed reconcile.
		if r := recover(); r != nil {
			if err := os.WriteFile(os.Args[2], []byte(fmt.Sprintf("error: panic: %v\n", r)), 0o644); err != nil {
				panic(err)
			}
		}
	}()
	if i, err := indexFromBytes(in); err != nil {
		out = []byte("error: " + err.Error() + "\n")
	} else if b, err := json.MarshalIndent(i, "", "  "); err != nil {
		out = []byte("error: " + err.Error() + "\n")
	} else {
		out = b
	}
	if err := os.WriteFile(os.Args[2], out, 0o644); err != nil {
		panic(err)
	}
}

// indexFromBytes is Flux's IndexFromBytes (source-controller v1.9).
func indexFromBytes(b []byte) (*repo.IndexFile, error) {
	if len(b) == 0 {
		return nil, repo.ErrEmptyIndexYaml
	}
	i := &repo.IndexFile{}
	if err := jsonOrYamlUnmarshal(b, i); err != nil {
		return nil, err
	}
	if i.APIVersion == "" {
		return nil, repo.ErrNoAPIVersion
	}
	for name, cvs := range i.Entries {
		for idx := len(cvs) - 1; idx >= 0; idx-- {
			if cvs[idx] == nil {
				continue
			}
			if cvs[idx].Metadata == nil {
				cvs[idx].Metadata = &chart.Metadata{}
			}
			if cvs[idx].APIVersion == "" {
				cvs[idx].APIVersion = chart.APIVersionV1
			}
			if err := cvs[idx].Validate(); ignoreSkippable(err) != nil {
				cvs = append(cvs[:idx], cvs[idx+1:]...)
			}
		}
		i.Entries[name] = cvs
	}
	i.SortEntries()
	return i, nil
}

func jsonOrYamlUnmarshal(b []byte, i interface{}) error {
	if json.Valid(b) {
		return json.Unmarshal(b, i)
	}
	return yaml.UnmarshalStrict(b, i)
}

func ignoreSkippable(err error) error {
	verr, ok := err.(chart.ValidationError)
	if !ok {
		return err
	}
	if strings.HasPrefix(verr.Error(), "validation: more than one dependency with name or alias") {
		return nil
	}
	return err
}

