// Package templates holds every page and static asset, embedded in the
// binary, and the one Renderer that executes pages inside the shared layout.
package templates
