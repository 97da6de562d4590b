package federation

import "github.com/portico-idp/portico/internal/signing"

func signingCert() (string, error) {
	c, err := signing.Generate(signing.Options{CommonName: "Other IdP"})
	if err != nil {
		return "", err
	}
	return c.Base64(), nil
}
