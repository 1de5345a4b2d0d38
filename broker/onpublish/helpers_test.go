package onpublish

import (
	"crypto/x509"
	"strconv"
)

type x509CertPool = x509.CertPool

func strconvItoa(i int64) string { return strconv.FormatInt(i, 10) }

func x509NewCertPool() *x509.CertPool { return x509.NewCertPool() }
