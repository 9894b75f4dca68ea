// Command gotemplate-oracle renders Go text/template cases with Sprig's
// function map as Helm registers it (minus env/expandenv), so Ferry's
// crates/gotemplate can be checked against Go itself.
//
// Input: corpus files named as arguments (see readCases), or on stdin one
// JSON object a line, {"name", "template", "data", "missingkey"}; output on
// stdout: one JSON object a line, {"name", "output", "error"}. Data is decoded as Helm decodes values (numbers become
// float64).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
)

type input struct {
	Name       string            `json:"name"`
	Template   string            `json:"template"`
	Data       json.RawMessage   `json:"data"`
	MissingKey string            `json:"missingkey"`
	Files      map[string]string `json:"files"`
}

// files is a host object of map kind, as Helm's engine.files: a
// map[string][]byte with methods. A case's "files:" line puts one under the
// key Files of its data (which must then be a JSON object or absent).
type files map[string][]byte

// Get returns a file's content as a string, as Helm's Files.Get.
func (f files) Get(name string) string { return string(f[name]) }

type output struct {
	Name   string `json:"name"`
	Output string `json:"output"`
	Error  string `json:"error"`
}

func funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	return f
}

func render(in input) (out string, errText string) {
	defer func() {
		if r := recover(); r != nil {
			errText = "panic"
		}
	}()
	var data interface{}
	if len(in.Data) > 0 {
		if err := json.Unmarshal(in.Data, &data); err != nil {
			return "", "bad data: " + err.Error()
		}
	}
	if in.Files != nil {
		m, _ := data.(map[string]interface{})
		if m == nil {
			m = map[string]interface{}{}
		}
		f := files{}
		for k, v := range in.Files {
			f[k] = []byte(v)
		}
		m["Files"] = f
		data = m
	}
	t := template.New(in.Name).Funcs(funcs())
	if in.MissingKey != "" {
		t = t.Option("missingkey=" + in.MissingKey)
	}
	t, err := t.Parse(in.Template)
	if err != nil {
		return "", err.Error()
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, in.Name, data); err != nil {
		return b.String(), err.Error()
	}
	return b.String(), ""
}

// readCases parses Ferry's corpus format: "### name" starts a case, then
// optional "data: JSON", "files: JSON" (a map of file names to contents) and
// "missingkey: X" lines, then "template:" and the
// template text up to the next "### " line (its last newline dropped).
func readCases(text string) []input {
	var cases []input
	var cur *input
	var tmpl []string
	inTemplate := false
	flush := func() {
		if cur != nil {
			cur.Template = strings.Join(tmpl, "\n")
			cases = append(cases, *cur)
		}
	}
	lines := strings.Split(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for _, line := range lines {
		if strings.HasPrefix(line, "### ") {
			flush()
			cur = &input{Name: strings.TrimSpace(line[4:])}
			tmpl = nil
			inTemplate = false
			continue
		}
		if cur == nil {
			continue
		}
		if inTemplate {
			tmpl = append(tmpl, line)
			continue
		}
		switch {
		case strings.HasPrefix(line, "data: "):
			cur.Data = json.RawMessage(line[len("data: "):])
		case strings.HasPrefix(line, "files: "):
			if err := json.Unmarshal([]byte(line[len("files: "):]), &cur.Files); err != nil {
				fmt.Fprintln(os.Stderr, cur.Name+": bad files line: "+err.Error())
				os.Exit(1)
			}
		case strings.HasPrefix(line, "missingkey: "):
			cur.MissingKey = strings.TrimSpace(line[len("missingkey: "):])
		case line == "template:":
			inTemplate = true
		}
	}
	flush()
	return cases
}

// bench parses each case once and executes it n times, printing the time
// per render, to compare with crates/gotemplate/examples/render_bench.rs.
func bench(count string, paths []string) {
	n, err := strconv.Atoi(count)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, path := range paths {
		text, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, in := range readCases(string(text)) {
			var data interface{}
			_ = json.Unmarshal(in.Data, &data)
			start := time.Now()
			t := template.New(in.Name).Funcs(funcs())
			if in.MissingKey != "" {
				t = t.Option("missingkey=" + in.MissingKey)
			}
			t = template.Must(t.Parse(in.Template))
			parse := time.Since(start)
			start = time.Now()
			size := 0
			for i := 0; i < n; i++ {
				var b strings.Builder
				if err := t.ExecuteTemplate(&b, in.Name, data); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				size += b.Len()
			}
			exec := time.Since(start)
			fmt.Printf("%s: parse %v; %d renders in %v (%.1f µs each, %d bytes each)\n", in.Name, parse, n, exec, float64(exec.Microseconds())/float64(n), size/n)
		}
	}
}

func main() {
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if len(os.Args) > 3 && os.Args[1] == "-bench" {
		bench(os.Args[2], os.Args[3:])
		return
	}
	if len(os.Args) > 1 {
		for _, path := range os.Args[1:] {
			text, err := os.ReadFile(path)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			for _, in := range readCases(string(text)) {
				o, e := render(in)
				enc.Encode(output{Name: in.Name, Output: o, Error: e})
			}
		}
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var in input
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil {
			enc.Encode(output{Error: "bad case: " + err.Error()})
			continue
		}
		o, e := render(in)
		enc.Encode(output{Name: in.Name, Output: o, Error: e})
	}
}
