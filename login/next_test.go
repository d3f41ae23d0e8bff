package login

import "testing"

// TestNext covers the dispatcher for every kind of flow, and a request
// without one.
func TestNext(t *testing.T) {
	sess := &Session{Hash: "s1", UserID: "u"}
	ok := Decision{Satisfied: true}
	short := Decision{Satisfied: false}
	enroll := Decision{Satisfied: false, Enroll: MethodTOTP}
	flow := func(k Kind, loginDone, consentDone, denied bool) *Flow {
		return &Flow{Kind: k, LoginDone: loginDone, ConsentDone: consentDone, ConsentDenied: denied}
	}
	tests := []struct {
		name string
		fl   *Flow
		sess *Session
		c    Client
		want Step
	}{
		// /oauth2/auth without a flow.
		{"no flow, no session", nil, nil, Client{Decision: short}, StepLogin},
		{"no flow, session short of the level", nil, sess, Client{Decision: short}, StepLogin},
		{"no flow, level needs enrolling", nil, sess, Client{Decision: enroll}, StepEnroll},
		{"no flow, satisfied, consent needed", nil, sess, Client{Decision: ok, NeedsConsent: true}, StepConsent},
		{"no flow, satisfied", nil, sess, Client{Decision: ok}, StepIssue},
		{"no flow, satisfied decision but no session", nil, nil, Client{Decision: ok}, StepLogin},

		// authorize
		{"authorize on /login, short", flow(KindAuthorize, false, false, false), nil, Client{Decision: short}, StepLogin},
		{"authorize on /login, must enroll", flow(KindAuthorize, false, false, false), nil, Client{Decision: enroll}, StepEnroll},
		{"authorize on /login, satisfied: back to /oauth2/auth", flow(KindAuthorize, false, false, false), nil, Client{Decision: ok}, StepReturn},
		{"authorize resumed, consent needed", flow(KindAuthorize, true, false, false), sess, Client{Decision: ok, NeedsConsent: true}, StepConsent},
		{"authorize resumed, consented", flow(KindAuthorize, true, true, false), sess, Client{Decision: ok}, StepIssue},
		{"authorize resumed, denied", flow(KindAuthorize, true, false, true), sess, Client{Decision: ok}, StepDeny},
		{"authorize resumed, session lost", flow(KindAuthorize, true, true, false), nil, Client{Decision: ok}, StepLogin},
		{"authorize resumed, level no longer met", flow(KindAuthorize, true, true, false), sess, Client{Decision: short}, StepLogin},

		// local and reauth: back to their page, never consent or a code.
		{"local, short", flow(KindLocal, false, false, false), nil, Client{Decision: short}, StepLogin},
		{"local, must enroll", flow(KindLocal, false, false, false), nil, Client{Decision: enroll}, StepEnroll},
		{"local, satisfied", flow(KindLocal, false, false, false), nil, Client{Decision: ok, NeedsConsent: true}, StepReturn},
		{"reauth, short", flow(KindReauth, false, false, false), nil, Client{Decision: short}, StepLogin},
		{"reauth, satisfied", flow(KindReauth, false, false, false), nil, Client{Decision: ok}, StepReturn},

		// Kinds no sign-in step continues.
		{"ceremony refused", flow(KindCeremony, true, false, false), sess, Client{Decision: ok}, StepRefuse},
		{"ceremony refused even unsatisfied", flow(KindCeremony, false, false, false), nil, Client{Decision: short}, StepRefuse},
		{"recovery refused", flow(KindRecovery, false, false, false), nil, Client{Decision: short}, StepRefuse},
		{"unknown kind refused", flow("", false, false, false), nil, Client{Decision: short}, StepRefuse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Next(tc.fl, tc.sess, tc.c); got != tc.want {
				t.Fatalf("Next = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFlowTransitions: each handler's transition refuses a flow of the
// wrong kind or state.
func TestFlowTransitions(t *testing.T) {
	res := Result{Method: MethodPassword, UserID: "u"}
	for _, k := range []Kind{KindAuthorize, KindLocal, KindReauth, KindCeremony, KindRecovery} {
		t.Run(string(k), func(t *testing.T) {
			fl := &Flow{Kind: k}
			err := fl.AddResult(res)
			if wantLogin := k.signsIn(); (err == nil) != wantLogin || fl.CanLogin() != wantLogin {
				t.Errorf("AddResult on a %s flow = %v; CanLogin %v", k, err, fl.CanLogin())
			}
			if fl.CanConsent() || fl.Grant() == nil || fl.Deny() == nil {
				t.Errorf("a %s flow before its login accepts consent", k)
			}
			fl.UserID = "u"
			err = fl.FinishLogin("s1", fl.Results)
			if (err == nil) != k.signsIn() {
				t.Errorf("FinishLogin on a %s flow = %v", k, err)
			}
			wantConsent := k == KindAuthorize
			if fl.CanConsent() != wantConsent || (fl.Grant() == nil) != wantConsent {
				t.Errorf("a finished %s flow: CanConsent %v, want %v", k, fl.CanConsent(), wantConsent)
			}
			if k.signsIn() && (fl.AddResult(res) == nil || fl.CanLogin()) {
				t.Errorf("a finished %s flow still takes factors", k)
			}
			if fl.IsCeremony() != (k == KindCeremony) {
				t.Errorf("IsCeremony on %s = %v", k, fl.IsCeremony())
			}
		})
	}
	fl := &Flow{Kind: KindAuthorize}
	if err := fl.AddResult(res); err != nil {
		t.Fatal(err)
	}
	if err := fl.AddResult(Result{Method: MethodTOTP, UserID: "someone-else"}); err == nil {
		t.Error("a result for another user was added")
	}
	fl.Scopes = []string{"openid", "email"}
	_ = fl.FinishLogin("s1", fl.Results)
	if err := fl.Grant(); err != nil || !fl.Consented([]string{"openid", "email"}) || fl.Consented([]string{"profile"}) {
		t.Errorf("Grant: %v, consented %v", err, fl.GrantedScopes)
	}
	if fl.Grant() == nil || fl.Deny() == nil {
		t.Error("consent answered twice")
	}
}
