package secretstore

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Code is the name of an AWS Secrets Manager exception, such as
// "ResourceNotFoundException". It is what the AWS wire protocol sends as
// __type and what AWS SDKs expose as the error code.
type Code string

// The Secrets Manager exception names that the engine returns.
const (
	// CodeResourceNotFound: no such secret, version or label.
	CodeResourceNotFound Code = "ResourceNotFoundException"
	// CodeInvalidParameter: a parameter's value or combination is invalid.
	CodeInvalidParameter Code = "InvalidParameterException"
	// CodeInvalidRequest: not valid for the secret's current state, such as
	// a secret scheduled for deletion.
	CodeInvalidRequest Code = "InvalidRequestException"
	// CodeResourceExists: the name or ClientRequestToken is already in use.
	CodeResourceExists Code = "ResourceExistsException"
	// CodeLimitExceeded: a quota (versions, labels, tags) would be exceeded.
	CodeLimitExceeded Code = "LimitExceededException"
	// CodeValidation: the request breaks the service model's constraints
	// (lengths, patterns, enumerations).
	CodeValidation Code = "ValidationException"
	// CodeEncryptionFailure: a value could not be sealed under its key.
	CodeEncryptionFailure Code = "EncryptionFailure"
	// CodeDecryptionFailure: a stored value could not be opened.
	CodeDecryptionFailure Code = "DecryptionFailure"
	// CodeInternalService: the backend failed.
	CodeInternalService Code = "InternalServiceError"
	// CodeInvalidNextToken: a NextToken this listing did not issue.
	CodeInvalidNextToken Code = "InvalidNextTokenException"
	// CodePreconditionNotMet: a precondition of the request does not hold.
	CodePreconditionNotMet Code = "PreconditionNotMetException"
	// CodeMalformedPolicy: a resource policy is malformed.
	CodeMalformedPolicy Code = "MalformedPolicyDocumentException"
	// CodeAccessDenied: the rotation function cannot be invoked.
	CodeAccessDenied Code = "AccessDeniedException"
)

// Sentinel errors, one per Code. Every error the engine returns for a
// Secrets Manager condition is an *Error that matches exactly one of these
// with errors.Is:
//
//	if errors.Is(err, secretstore.ErrResourceNotFound) { ... }
var (
	// ErrResourceNotFound matches CodeResourceNotFound.
	ErrResourceNotFound = &sentinel{CodeResourceNotFound}
	// ErrInvalidParameter matches CodeInvalidParameter.
	ErrInvalidParameter = &sentinel{CodeInvalidParameter}
	// ErrInvalidRequest matches CodeInvalidRequest.
	ErrInvalidRequest = &sentinel{CodeInvalidRequest}
	// ErrResourceExists matches CodeResourceExists.
	ErrResourceExists = &sentinel{CodeResourceExists}
	// ErrLimitExceeded matches CodeLimitExceeded.
	ErrLimitExceeded = &sentinel{CodeLimitExceeded}
	// ErrValidation matches CodeValidation.
	ErrValidation = &sentinel{CodeValidation}
	// ErrEncryptionFailure matches CodeEncryptionFailure.
	ErrEncryptionFailure = &sentinel{CodeEncryptionFailure}
	// ErrDecryptionFailure matches CodeDecryptionFailure.
	ErrDecryptionFailure = &sentinel{CodeDecryptionFailure}
	// ErrInternalService matches CodeInternalService.
	ErrInternalService = &sentinel{CodeInternalService}
	// ErrInvalidNextToken matches CodeInvalidNextToken.
	ErrInvalidNextToken = &sentinel{CodeInvalidNextToken}
	// ErrPreconditionNotMet matches CodePreconditionNotMet.
	ErrPreconditionNotMet = &sentinel{CodePreconditionNotMet}
	// ErrMalformedPolicy matches CodeMalformedPolicy.
	ErrMalformedPolicy = &sentinel{CodeMalformedPolicy}
	// ErrAccessDenied matches CodeAccessDenied.
	ErrAccessDenied = &sentinel{CodeAccessDenied}
)

// sentinel is the type of the Err* values: comparable by identity, printing
// its AWS name.
type sentinel struct{ code Code }

func (s *sentinel) Error() string { return string(s.code) }

var sentinels = map[Code]*sentinel{}

func init() {
	for _, s := range []*sentinel{
		ErrResourceNotFound, ErrInvalidParameter, ErrInvalidRequest, ErrResourceExists,
		ErrLimitExceeded, ErrValidation, ErrEncryptionFailure, ErrDecryptionFailure,
		ErrInternalService, ErrInvalidNextToken, ErrPreconditionNotMet, ErrMalformedPolicy,
		ErrAccessDenied,
	} {
		sentinels[s.code] = s
	}
}

// Error is the error type of every Secrets Manager condition the engine
// reports. Code and Message are what AWS would send; Op and Secret say where
// it happened. Error messages never contain a secret value or key material.
//
// errors.Is(err, ErrX) holds for the sentinel of the error's Code, and
// errors.Is/As also see the cause in Err, if any.
type Error struct {
	// Code is the AWS exception name.
	Code Code
	// Message is the text AWS sends with the exception.
	Message string
	// Op is the operation, such as "PutSecretValue".
	Op string
	// Secret is the SecretId or Name the call named, if any.
	Secret string
	// Err is the underlying cause, if any (a backend or crypto failure).
	Err error
}

// Error returns "Op Secret: Code: Message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		if e.Secret != "" {
			b.WriteString(" ")
			b.WriteString(e.Secret)
		}
		b.WriteString(": ")
	}
	b.WriteString(string(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the sentinel of e.Code and the cause, so that errors.Is and
// errors.As see both.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if s, ok := sentinels[e.Code]; ok {
		errs = append(errs, s)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// HTTPStatus returns the HTTP status AWS uses for the error's code: 500 for
// InternalServiceError, 400 for everything else.
func (e *Error) HTTPStatus() int {
	if e.Code == CodeInternalService {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// ErrorCode returns the AWS exception name of err, or "" if err is not (and
// does not wrap) an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// newError builds an *Error. Messages are fixed AWS texts or texts built from
// names, ids and labels, never from values.
func newError(code Code, msg string) *Error {
	return &Error{Code: code, Message: msg}
}

// Messages AWS sends, byte for byte (SPEC.md §1.5).
const (
	msgSecretNotFound      = "Secrets Manager can't find the specified secret."
	msgMarkedForDeletion   = "You can't perform this operation on the secret because it was marked for deletion."
	msgScheduledForDelete  = "You can't create this secret because a secret with this name is already scheduled for deletion."
	msgStageNotOnVersion   = "You provided a VersionStage that is not associated to the provided VersionId."
	msgInvalidName         = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
	msgTokenRequired       = "You must provide a ClientRequestToken value. We recommend a UUID-type value."
	msgValueRequired       = "You must provide either SecretString or SecretBinary."
	msgBothValues          = "You can’t specify both a binary secret value and a string secret value in the same secret."
	msgRecoveryWindow      = "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
	msgForceAndWindow      = "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
	msgCurrentCantBeRemove = "You can only move staging label AWSCURRENT to a different secret version. It can’t be completely removed."
	msgTooManyVersions     = "You have exceeded the maximum number of versions for this secret."
	msgTooManyLabels       = "You have exceeded the maximum number of staging labels for this secret."
	msgNoRotationLambda    = "No Lambda rotation function ARN is associated with this secret."
	msgRotationInProgress  = "Previous rotation request is still in progress."
	msgInvalidNextToken    = "The NextToken value is invalid."
	msgDecryptionFailure   = "Secrets Manager can't decrypt the protected secret text using the provided KMS key."
	msgEncryptionFailure   = "Secrets Manager can't encrypt the protected secret text using the provided KMS key."
)

func errSecretNotFound() *Error { return newError(CodeResourceNotFound, msgSecretNotFound) }

func errMarkedForDeletion() *Error { return newError(CodeInvalidRequest, msgMarkedForDeletion) }

func errStageNotFound(label string) *Error {
	return newError(CodeResourceNotFound, "Secrets Manager can't find the specified secret value for staging label: "+label)
}

func errVersionNotFound(id string) *Error {
	return newError(CodeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: "+id)
}

func errTokenInUse(token, arn string) *Error {
	return newError(CodeResourceExists, "You can't use ClientRequestToken "+token+" because that value is already in use for a version of secret "+arn+".")
}

func errSecretExists(name string) *Error {
	return newError(CodeResourceExists, "The operation failed because the secret "+name+" already exists.")
}

// errValidation reports a request that fails the service model's
// constraints, in the form AWS uses: "1 validation error detected: Value at
// 'field' failed to satisfy constraint: rule". The value itself is never
// echoed, since it may be a secret.
func errValidation(field, rule string) *Error {
	return newError(CodeValidation, "1 validation error detected: Value at '"+field+"' failed to satisfy constraint: "+rule)
}

func errInvalidParameter(msg string) *Error { return newError(CodeInvalidParameter, msg) }

func errInvalidRequest(msg string) *Error { return newError(CodeInvalidRequest, msg) }

// wrapInternal turns an unexpected failure (a backend error) into an
// InternalServiceError that keeps the cause. Context errors are returned as
// they are, so that errors.Is(err, context.Canceled) holds and callers see
// the standard values.
func wrapInternal(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: CodeInternalService, Message: "An error occurred on the server side.", Err: err}
}

// annotate fills in the operation and secret of err if it is an *Error.
func annotate(err error, op, secret string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.Op == "" {
		e.Op = op
		e.Secret = secret
	}
	return err
}
