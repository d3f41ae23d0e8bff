package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decode is LoadBytes without the all-or-nothing: it returns the best-effort
// Config alongside the field errors so Check can validate it too. The Config
// is nil only on a YAML syntax error.
//
// It walks the yaml.Node tree itself instead of using yaml.v3's KnownFields,
// because KnownFields stops at the first unknown key and names it by line, and
// admins fixing a file want every mistake named by its path in one go.
func decode(data []byte) (*Config, Errors, error) {
	c := Default()
	d := &decoder{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		c.finish()
		return c, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, nil, fmt.Errorf("config: %w", err)
	default:
		d.add(rootPath, "only one YAML document is allowed (remove the extra ---)")
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	d.value("", root, reflect.ValueOf(c).Elem())
	c.finish()
	return c, d.errs, nil
}

type decoder struct {
	errs Errors
}

func (d *decoder) add(path, format string, args ...any) {
	if path == "" {
		path = rootPath
	}
	d.errs = append(d.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[Duration]()

// value decodes n into v. A null node leaves v alone, so a key written
// without a value keeps its default rather than silently becoming empty.
func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) {
	n = deref(n)
	if isNull(n) {
		return
	}
	switch {
	case v.Type() == durationType:
		s, ok := d.scalar(path, n, "a duration such as 15m or 1h30m")
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.add(path, "expected a duration such as 15m or 1h30m, got %q", s)
			return
		}
		v.Set(reflect.ValueOf(Duration{dur}))
	case v.Kind() == reflect.Struct:
		d.mapping(path, n, v)
	case v.Kind() == reflect.Pointer:
		// Pointers mark keys whose absence means something (a default
		// applied later); a present key allocates and decodes in place.
		elem := reflect.New(v.Type().Elem())
		d.value(path, n, elem.Elem())
		v.Set(elem)
	case v.Kind() == reflect.Slice:
		d.sequence(path, n, v)
	case v.Kind() == reflect.String:
		if s, ok := d.scalar(path, n, "a string"); ok {
			v.SetString(s)
		}
	case v.Kind() == reflect.Bool:
		s, ok := d.scalar(path, n, "true or false")
		if !ok {
			return
		}
		// Only the YAML 1.2 spellings: yes/no/on/off are a YAML 1.1 trap
		// (the "Norway problem") and rejecting them costs the admin one edit.
		switch s {
		case "true", "True", "TRUE":
			v.SetBool(true)
		case "false", "False", "FALSE":
			v.SetBool(false)
		default:
			d.add(path, "expected true or false, got %q", s)
		}
	case v.Kind() == reflect.Int:
		s, ok := d.scalar(path, n, "an integer")
		if !ok {
			return
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			d.add(path, "expected an integer, got %q", s)
			return
		}
		v.SetInt(int64(i))
	default:
		// Reached only if someone adds a field of a new kind to Config
		// without teaching the decoder; fail loudly in every test.
		panic(fmt.Sprintf("config: no decoder for %s at %s", v.Type(), path))
	}
}

// scalar returns n's value with ${ENV} expanded. Quoted scalars are accepted
// for every type, so `skew: "${TOTP_SKEW}"` works.
func (d *decoder) scalar(path string, n *yaml.Node, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.add(path, "expected %s, got %s", want, describe(n))
		return "", false
	}
	s, problems := expandEnv(n.Value)
	for _, p := range problems {
		d.add(path, "%s", p)
	}
	return s, len(problems) == 0
}

func (d *decoder) mapping(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.add(path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(path, "keys must be plain names, got %s", describe(k))
			continue
		}
		key := k.Value
		kp := join(path, key)
		if line, dup := firstLine[key]; dup {
			d.add(kp, "duplicate key (first set on line %d)", line)
			continue
		}
		firstLine[key] = k.Line
		if key == "<<" && k.ShortTag() == "!!merge" {
			d.add(kp, "merge keys are not supported; write the settings out")
			continue
		}
		idx, ok := fields[key]
		if !ok {
			msg := "unknown key"
			if s := suggest(key, v.Type()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.add(kp, "%s", msg)
			continue
		}
		d.value(kp, val, v.Field(idx))
	}
}

func (d *decoder) sequence(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.add(path, "expected a list, got %s", describe(n))
		return
	}
	// The slice replaces the default instead of extending it, and is non-nil
	// even when empty, so an explicit [] is not mistaken for an absent key.
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		elem := reflect.New(v.Type().Elem()).Elem()
		if isNull(deref(item)) {
			d.add(ip, "empty list item")
		} else {
			d.value(ip, item, elem)
		}
		out = reflect.Append(out, elem)
	}
	v.Set(out)
}

// deref follows aliases so that anchors work like the values they name.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "nothing"
		}
		return "a string"
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps each YAML key of struct type t to its field index.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// suggest returns the known key of t closest to key when it is a likely typo:
// at most two edits away, and fewer edits than key has characters, so that a
// two-letter key does not "correct" to an unrelated two-letter one.
func suggest(key string, t reflect.Type) string {
	best, bestDist := "", 3
	for i := range t.NumField() {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		if dist := editDistance(strings.ToLower(key), name); dist < bestDist && dist < len([]rune(key)) {
			best, bestDist = name, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, over runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// expandEnv replaces each ${NAME} in s with the environment variable NAME. It
// returns one problem per reference that can not be expanded, rather than
// stopping at the first, in keeping with reporting everything at once.
// The result is never expanded again, so a variable holding "${X}" stays literal.
func expandEnv(s string) (string, []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var problems []string
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				problems = append(problems, `unterminated "${"; write "$${" for a literal "${"`)
				b.WriteString(s[i:])
				i = len(s)
				continue
			}
			name := s[i+2 : i+2+end]
			i += 2 + end + 1
			if !validEnvName(name) {
				problems = append(problems, fmt.Sprintf("invalid environment variable name %q in ${...}", name))
				continue
			}
			val, problem := lookupEnv(name)
			if problem != "" {
				problems = append(problems, problem)
				continue
			}
			b.WriteString(val)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), problems
}

// lookupEnv reads NAME, or else the file NAME_FILE names (the Docker and
// Kubernetes way of passing secrets: a mounted file, not the environment,
// which every process of the user can read). One trailing newline is
// dropped, as files written by editors end in one.
func lookupEnv(name string) (string, string) {
	val, ok := os.LookupEnv(name)
	path, fromFile := os.LookupEnv(name + "_FILE")
	switch {
	case ok && fromFile:
		return "", fmt.Sprintf("both %s and %s_FILE are set; set one", name, name)
	case ok:
		return val, ""
	case fromFile:
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Sprintf("%s_FILE: %v", name, err)
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		return v, ""
	}
	return "", fmt.Sprintf("environment variable %s is not set (nor %s_FILE)", name, name)
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
