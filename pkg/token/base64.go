package token

// The decoder for token segments. encoding/base64 would do, but it skips
// '\r' and '\n' anywhere in its input, so a token with a line break in its
// signature would verify as if the break were not there; and it only
// decodes []byte, which would cost a copy of the token.

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// b64Values maps a base64url character to its 6-bit value and every other
// byte to 0xFF, whose top bits mark it invalid.
var b64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := range len(b64Alphabet) {
		t[b64Alphabet[i]] = byte(i)
	}
	return t
}()

// decodedLen returns how many bytes an unpadded base64url string of n
// characters holds, or -1 when no such string has n characters.
func decodedLen(n int) int {
	if n%4 == 1 {
		return -1
	}
	return n/4*3 + n%4*3/4
}

// decodeSegment decodes the unpadded base64url string s into dst, which
// must be decodedLen(len(s)) bytes long. With dst nil it only checks s. It
// refuses any character outside the alphabet and non-zero padding bits, so
// that each byte string has exactly one encoding.
func decodeSegment(dst []byte, s string) bool {
	si, di := 0, 0
	for ; si+4 <= len(s); si += 4 {
		a, b, c, d := b64Values[s[si]], b64Values[s[si+1]], b64Values[s[si+2]], b64Values[s[si+3]]
		if (a|b|c|d)&0xC0 != 0 {
			return false
		}
		if dst != nil {
			v := uint(a)<<18 | uint(b)<<12 | uint(c)<<6 | uint(d)
			dst[di], dst[di+1], dst[di+2] = byte(v>>16), byte(v>>8), byte(v)
			di += 3
		}
	}
	switch len(s) - si {
	case 1:
		return false
	case 2:
		a, b := b64Values[s[si]], b64Values[s[si+1]]
		if (a|b)&0xC0 != 0 || b&0x0F != 0 {
			return false
		}
		if dst != nil {
			dst[di] = a<<2 | b>>4
		}
	case 3:
		a, b, c := b64Values[s[si]], b64Values[s[si+1]], b64Values[s[si+2]]
		if (a|b|c)&0xC0 != 0 || c&0x03 != 0 {
			return false
		}
		if dst != nil {
			v := uint(a)<<12 | uint(b)<<6 | uint(c)
			dst[di], dst[di+1] = byte(v>>10), byte(v>>2)
		}
	}
	return true
}
