package directory

import (
	"errors"
	"strings"
)

// FieldError says what is wrong with one field of an input. Field is the
// JSON name the API uses (for example "organizationId"), so an error can be
// shown next to the control an administrator filled in.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"detail"`
}

// ValidationError collects every field error of one input, so that a form
// or an API client can fix them all in one round trip.
type ValidationError struct {
	Errors []FieldError
}

// Error lists the field errors.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Fields returns the names of the fields in error.
func (e *ValidationError) Fields() []string {
	out := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		out[i] = f.Field
	}
	return out
}

// Invalid returns a ValidationError for a single field.
func Invalid(field, message string) error {
	return &ValidationError{Errors: []FieldError{{Field: field, Message: message}}}
}

// AsValidation reports whether err is (or wraps) a ValidationError.
func AsValidation(err error) (*ValidationError, bool) {
	var ve *ValidationError
	ok := errors.As(err, &ve)
	return ve, ok
}

// checker accumulates field errors.
type checker struct{ errs []FieldError }

func (c *checker) add(field, msg string) {
	c.errs = append(c.errs, FieldError{Field: field, Message: msg})
}

func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: c.errs}
}
