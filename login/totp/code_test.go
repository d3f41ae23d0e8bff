package totp

import (
	"testing"
	"time"

	"github.com/pquerna/otp"
)

// rfcSecret is RFC 6238 Appendix B's SHA-1 seed.
var rfcSecret = []byte("12345678901234567890")

// rfcVectors are RFC 6238 Appendix B's SHA-1 rows (8 digits, 30 s).
var rfcVectors = []struct {
	unix int64
	step int64
	code string
}{
	{59, 0x1, "94287082"},
	{1111111109, 0x23523EC, "07081804"},
	{1111111111, 0x23523ED, "14050471"},
	{1234567890, 0x273EF07, "89005924"},
	{2000000000, 0x3F940AA, "69279037"},
	{20000000000, 0x27BC86AA, "65353130"},
}

func TestCodeRFC6238(t *testing.T) {
	p := Params{Digits: otp.DigitsEight}
	for _, v := range rfcVectors {
		at := time.Unix(v.unix, 0)
		if got := p.Step(at); got != v.step {
			t.Errorf("Step(%d) = %#x, want %#x", v.unix, got, v.step)
		}
		got, err := p.Code(rfcSecret, p.Step(at))
		if err != nil || got != v.code {
			t.Errorf("Code at %d = %q, %v; want %s", v.unix, got, err, v.code)
		}
	}
}

func TestStepRoundsDown(t *testing.T) {
	var p Params
	tests := []struct {
		unix, want int64
	}{
		{0, 0}, {29, 0}, {30, 1}, {-1, -1}, {-30, -1}, {-31, -2},
	}
	for _, tt := range tests {
		if got := p.Step(time.Unix(tt.unix, 0)); got != tt.want {
			t.Errorf("Step(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
}

func TestMatchWindow(t *testing.T) {
	now := time.Unix(1111111111, 0)
	cur := Params{}.Step(now)
	code := func(step int64) string {
		c, err := Params{}.Code(rfcSecret, step)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name     string
		skew     int
		code     string
		wantStep int64
		wantOK   bool
	}{
		{"current step", 1, code(cur), cur, true},
		{"one step behind, skew 1", 1, code(cur - 1), cur - 1, true},
		{"one step ahead, skew 1", 1, code(cur + 1), cur + 1, true},
		{"two steps behind, skew 1", 1, code(cur - 2), 0, false},
		{"two steps ahead, skew 1", 1, code(cur + 2), 0, false},
		{"one step behind, skew 0", 0, code(cur - 1), 0, false},
		{"three steps ahead, skew 3", 3, code(cur + 3), cur + 3, true},
		{"spaces inside", 1, code(cur)[:3] + " " + code(cur)[3:], cur, true},
		{"too short", 1, code(cur)[:5], 0, false},
		{"too long", 1, code(cur) + "0", 0, false},
		{"empty", 1, "", 0, false},
		{"letters", 1, "abcdef", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := Params{Skew: tt.skew}.Match(rfcSecret, tt.code, now)
			if ok != tt.wantOK || (ok && step != tt.wantStep) {
				t.Fatalf("Match(%q) = %d, %v; want %d, %v", tt.code, step, ok, tt.wantStep, tt.wantOK)
			}
		})
	}
}

func TestMatchNearEpochSkipsNegativeSteps(t *testing.T) {
	c, _ := Params{}.Code(rfcSecret, 0)
	if step, ok := (Params{Skew: 1}).Match(rfcSecret, c, time.Unix(5, 0)); !ok || step != 0 {
		t.Fatalf("Match at the epoch = %d, %v", step, ok)
	}
	if _, ok := (Params{Skew: 1}).Match(rfcSecret, c, time.Unix(-61, 0)); ok {
		t.Fatal("matched a code before the epoch")
	}
}
