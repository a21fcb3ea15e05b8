package secretstore

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The steps of a rotation, in the order RotateSecret invokes them.
const (
	StepCreateSecret = "createSecret"
	StepSetSecret    = "setSecret"
	StepTestSecret   = "testSecret"
	StepFinishSecret = "finishSecret"
)

// RotationRequest is what a rotation function receives for each step, like
// the event an AWS rotation Lambda function receives.
type RotationRequest struct {
	// SecretId is the secret's ARN.
	SecretId string
	// ClientRequestToken is the VersionId of the version being rotated in;
	// it holds AWSPENDING.
	ClientRequestToken string
	// Step is one of the Step constants.
	Step string
}

// RotationFunc stands in for a rotation Lambda function: RotateSecret calls
// it once per step, with the Store to act on. A standard function puts the
// new value with PutSecretValue(ClientRequestToken, [AWSPENDING]) in
// createSecret, and in finishSecret moves AWSCURRENT to that version with
// UpdateSecretVersionStage.
type RotationFunc func(ctx context.Context, store Store, req RotationRequest) error

// RotateSecret configures rotation and, unless RotateImmediately is false,
// rotates the secret now by calling its rotation function (registered with
// WithRotationFunc) for the four steps (SPEC §2.11). The steps run
// synchronously, so when RotateSecret returns the rotation is complete or its
// error is returned.
func (e *Engine) RotateSecret(ctx context.Context, in *RotateSecretInput) (*RotateSecretOutput, error) {
	out, err := e.rotateSecret(ctx, in)
	return out, annotate(err, "RotateSecret", in.SecretId)
}

func (e *Engine) rotateSecret(ctx context.Context, in *RotateSecretInput) (*RotateSecretOutput, error) {
	if err := validateSecretID("secretId", in.SecretId); err != nil {
		return nil, err
	}
	if len(in.RotationLambdaARN) > maxSecretIDLen {
		return nil, errValidation("rotationLambdaARN", "Member must have length less than or equal to 2048")
	}
	if r := in.RotationRules; r != nil && r.AutomaticallyAfterDays != nil && (*r.AutomaticallyAfterDays < 1 || *r.AutomaticallyAfterDays > 1000) {
		return nil, errInvalidParameter("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
	}
	immediately := in.RotateImmediately == nil || *in.RotateImmediately
	tok, err := e.token(in.ClientRequestToken, true, CodeInvalidParameter)
	if err != nil {
		return nil, err
	}
	var fn RotationFunc
	var pruned []*versionMeta
	s, err := e.mutate(ctx, "RotateSecret", in.SecretId, false, func(s *secretMeta, now time.Time) (*secretMeta, error) {
		lambda := in.RotationLambdaARN
		if lambda == "" {
			lambda = s.Rotation.LambdaARN
		}
		if lambda == "" {
			return nil, errInvalidRequest(msgNoRotationLambda)
		}
		fn = e.cfg.rotators[lambda]
		if fn == nil {
			return nil, newError(CodeAccessDenied, "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.")
		}
		if s.Labels.rotationInProgress() {
			return nil, errInvalidRequest(msgRotationInProgress)
		}
		if v, _ := findVersion(s.Versions, tok); v != nil {
			return nil, errTokenInUse(tok, s.ARN)
		}
		next := s.clone()
		next.Rotation.Configured, next.Rotation.Enabled, next.Rotation.LambdaARN = true, true, lambda
		if r := in.RotationRules; r != nil {
			next.Rotation.Rules = RotationRules{Duration: r.Duration, ScheduleExpression: r.ScheduleExpression}
			if r.AutomaticallyAfterDays != nil {
				next.Rotation.Rules.AutomaticallyAfterDays = Int64(*r.AutomaticallyAfterDays) // never keep the caller's pointer
			}
		}
		if d := next.Rotation.Rules.AutomaticallyAfterDays; d != nil {
			next.Rotation.NextRotated = now.Add(time.Duration(*d) * 24 * time.Hour)
		}
		next.Labels = s.Labels.attach(LabelPending, tok)
		// The placeholder does not count against the version quota (SPEC §3
		// rule 5): prune among the other versions only, and never refuse.
		kept, drop, _ := pruneVersions(s.Versions, next.Labels, now, e.cfg.maxVersions, e.cfg.pruneAge)
		pruned = drop
		next.Versions = append(slices.Clip(kept), newVersionMeta(tok, now, kindNone, "", "", time.Time{}, s.NextSeq, nil))
		next.NextSeq++
		next.LastChanged = now
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	e.deleteBlobs(ctx, pruned) // only now that the metadata no longer refers to them
	out := &RotateSecretOutput{ARN: s.ARN, Name: s.Name, VersionId: tok}
	steps := []string{StepCreateSecret, StepSetSecret, StepTestSecret, StepFinishSecret}
	if !immediately {
		steps = []string{StepTestSecret}
	}
	for _, step := range steps {
		if err := fn(ctx, e, RotationRequest{SecretId: s.ARN, ClientRequestToken: tok, Step: step}); err != nil {
			return nil, &Error{Code: CodeInternalService, Message: "The rotation function failed in step " + step + ".", Err: fmt.Errorf("rotation step %s: %w", step, err)}
		}
	}
	_, err = e.mutate(ctx, "RotateSecret", s.ARN, false, func(s *secretMeta, now time.Time) (*secretMeta, error) {
		next := s.clone()
		if immediately {
			next.Rotation.LastRotated = now
			return next, nil
		}
		// Without immediate rotation the pending version only served the
		// test step: take it away again if nothing filled it.
		if v, i := findVersion(s.Versions, tok); v != nil && v.Kind == kindNone {
			next.Labels = s.Labels.dropVersion(tok)
			next.Versions = slices.Delete(slices.Clone(s.Versions), i, i+1)
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CancelRotateSecret turns rotation off, keeping the rotation function and
// rules so that Describe still shows them (SPEC §2.12). It does not touch
// labels: removing AWSPENDING from an unfinished rotation is the caller's
// job.
func (e *Engine) CancelRotateSecret(ctx context.Context, in *CancelRotateSecretInput) (*CancelRotateSecretOutput, error) {
	s, err := e.mutate(ctx, "CancelRotateSecret", in.SecretId, false, func(s *secretMeta, now time.Time) (*secretMeta, error) {
		if !s.Rotation.Configured {
			return nil, errInvalidRequest("Secrets Manager can't cancel rotation because rotation isn't configured for this secret.")
		}
		next := s.clone()
		next.Rotation.Enabled = false
		next.LastChanged = now
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return &CancelRotateSecretOutput{ARN: s.ARN, Name: s.Name, VersionId: s.Labels.holder(LabelPending)}, nil
}
