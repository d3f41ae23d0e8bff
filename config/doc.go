// Package config turns the admin's YAML file into a typed, checked Config.
//
// Its one job is to make a bad config impossible to miss: decoding is strict
// (unknown keys, duplicate keys and wrong types are errors, each named by its
// field path such as clients[0].redirect_uris[1]), ${ENV_NAME} references in
// values are expanded so secrets can stay out of the file, and Validate
// reports every problem at once rather than stopping at the first, so that
// `latchkey config check` can print them all, one a line.
//
// Environment expansion works on each scalar value after parsing, never on the
// raw text, so a variable's content can not add keys or change the document's
// structure. The rules: ${NAME} is replaced by the variable (an unset variable is
// an error; a set but empty one gives an empty string), $${ gives a literal ${,
// and any other $ is kept as is. Keys are never expanded.
//
// A key that is present with no value (or ~/null) keeps its default, as if absent.
package config
