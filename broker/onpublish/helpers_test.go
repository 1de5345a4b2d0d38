package onpublish

import (
	"crypto/x509"
	"strconv"
)

type x509CertPool = x509.CertPool

func strconvItoa(i int64) string { return strconv.FormatInt(i, 10) }
