// Package consent is the /consent page and the remembered grants: a user
// allows or denies a client the scopes it asked for; an allowed set is
// remembered per user and client, so later sign-ins to the same client with
// no new scope skip the page. First-party clients configured with
// skip_consent never show it (the provider decides that).
package consent
