package secretstore

import (
	"context"
	"encoding/binary"
	"strings"
)

// Character classes of GetRandomPassword, as AWS defines them.
const (
	pwLower       = "abcdefghijklmnopqrstuvwxyz"
	pwUpper       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	pwDigits      = "0123456789"
	pwPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	defaultPwLen  = 32
	maxPwLen      = 4096
)

// GetRandomPassword returns a random password (AWS's options and defaults:
// 32 characters from lowercase and uppercase letters, digits and
// punctuation, with at least one character of each included type). It reads
// no secret and needs no backend.
func (e *Engine) GetRandomPassword(ctx context.Context, in *GetRandomPasswordInput) (*GetRandomPasswordOutput, error) {
	out, err := e.getRandomPassword(ctx, in)
	return out, annotate(err, "GetRandomPassword", "")
}

func (e *Engine) getRandomPassword(ctx context.Context, in *GetRandomPasswordInput) (*GetRandomPasswordOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := int64(defaultPwLen)
	if in.PasswordLength != nil {
		n = *in.PasswordLength
		if n < 1 || n > maxPwLen {
			return nil, errValidation("passwordLength", "Member must have value between 1 and 4096")
		}
	}
	if len(in.ExcludeCharacters) > maxPwLen {
		return nil, errValidation("excludeCharacters", "Member must have length less than or equal to 4096")
	}
	keep := func(set string) string {
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(in.ExcludeCharacters, r) {
				return -1
			}
			return r
		}, set)
	}
	var classes []string
	for _, c := range []struct {
		exclude bool
		set     string
	}{{in.ExcludeLowercase, pwLower}, {in.ExcludeUppercase, pwUpper}, {in.ExcludeNumbers, pwDigits}, {in.ExcludePunctuation, pwPunctuation}} {
		if s := keep(c.set); !c.exclude && s != "" {
			classes = append(classes, s)
		}
	}
	all := strings.Join(classes, "")
	if in.IncludeSpace && !strings.ContainsRune(in.ExcludeCharacters, ' ') {
		all += " "
	}
	if all == "" {
		return nil, errInvalidParameter("The password can't be generated because every character is excluded.")
	}
	require := in.RequireEachIncludedType == nil || *in.RequireEachIncludedType
	if require && int64(len(classes)) > n {
		return nil, errInvalidParameter("PasswordLength is too short to include a character of each included type.")
	}
	pw := make([]byte, n)
	i := 0
	var err error
	if require {
		for _, c := range classes {
			if pw[i], err = e.pick(c); err != nil {
				return nil, wrapInternal(err)
			}
			i++
		}
	}
	for ; i < len(pw); i++ {
		if pw[i], err = e.pick(all); err != nil {
			return nil, wrapInternal(err)
		}
	}
	for i := len(pw) - 1; i > 0; i-- { // Fisher-Yates, so required characters are anywhere
		j, err := e.uniform(i + 1)
		if err != nil {
			return nil, wrapInternal(err)
		}
		pw[i], pw[j] = pw[j], pw[i]
	}
	return &GetRandomPasswordOutput{RandomPassword: string(pw)}, nil
}

func (e *Engine) pick(set string) (byte, error) {
	i, err := e.uniform(len(set))
	if err != nil {
		return 0, err
	}
	return set[i], nil
}

// uniform returns a uniformly random integer in [0, n) from the engine's
// random source, by rejection sampling.
func (e *Engine) uniform(n int) (int, error) {
	limit := ^uint32(0) - ^uint32(0)%uint32(n)
	for {
		var b [4]byte
		if err := e.readRand(b[:]); err != nil {
			return 0, err
		}
		if x := binary.LittleEndian.Uint32(b[:]); x < limit {
			return int(x % uint32(n)), nil
		}
	}
}
