package awsapi

import (
	"context"

	"github.com/secretstore/secretstore"
)

// operation decodes a request body, calls the store and returns the
// response to marshal. It records the secret the request names in rq.
type operation func(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error)

var operations = map[string]operation{
	"CreateSecret":             createSecret,
	"PutSecretValue":           putSecretValue,
	"UpdateSecret":             updateSecret,
	"GetSecretValue":           getSecretValue,
	"BatchGetSecretValue":      batchGetSecretValue,
	"DescribeSecret":           describeSecret,
	"ListSecretVersionIds":     listSecretVersionIds,
	"ListSecrets":              listSecrets,
	"UpdateSecretVersionStage": updateSecretVersionStage,
	"DeleteSecret":             deleteSecret,
	"RestoreSecret":            restoreSecret,
	"TagResource":              tagResource,
	"UntagResource":            untagResource,
	"RotateSecret":             rotateSecret,
	"CancelRotateSecret":       cancelRotateSecret,
	"GetRandomPassword":        getRandomPassword,
}

func createSecret(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in createSecretRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.Name
	out, err := s.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               in.Name,
		ClientRequestToken: in.ClientRequestToken,
		SecretString:       in.SecretString,
		SecretBinary:       in.SecretBinary,
		Description:        deref(in.Description),
		KmsKeyId:           deref(in.KmsKeyId),
		Tags:               tagsIn(in.Tags),
	})
	if err != nil {
		return nil, err
	}
	return arnNameVersionResponse{out.ARN, out.Name, out.VersionId}, nil
}

func putSecretValue(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in putSecretValueRequest
	if err := in.decode(body); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
		SecretId:           in.SecretId,
		ClientRequestToken: in.ClientRequestToken,
		SecretString:       in.SecretString,
		SecretBinary:       in.SecretBinary,
		VersionStages:      in.VersionStages,
	})
	if err != nil {
		return nil, err
	}
	rq.put = putSecretValueResponse{out.ARN, out.Name, out.VersionId, out.VersionStages}
	return &rq.put, nil
}

func updateSecret(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in updateSecretRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.UpdateSecret(ctx, &secretstore.UpdateSecretInput{
		SecretId:           in.SecretId,
		ClientRequestToken: in.ClientRequestToken,
		SecretString:       in.SecretString,
		SecretBinary:       in.SecretBinary,
		Description:        in.Description,
		KmsKeyId:           in.KmsKeyId,
	})
	if err != nil {
		return nil, err
	}
	return arnNameVersionResponse{out.ARN, out.Name, out.VersionId}, nil
}

func getSecretValue(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in getSecretValueRequest
	if err := in.decode(body); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.GetSecretValue(ctx, &secretstore.GetSecretValueInput{
		SecretId:     in.SecretId,
		VersionId:    in.VersionId,
		VersionStage: in.VersionStage,
	})
	if err != nil {
		return nil, err
	}
	str, bin := value(&out.SecretString, out.SecretBinary)
	rq.get = getSecretValueResponse{
		ARN:           out.ARN,
		Name:          out.Name,
		VersionId:     out.VersionId,
		SecretString:  str,
		SecretBinary:  bin,
		VersionStages: out.VersionStages,
		CreatedDate:   epochTime(out.CreatedDate),
	}
	return &rq.get, nil
}

func batchGetSecretValue(ctx context.Context, s secretstore.Store, body []byte, _ *request) (any, error) {
	var in batchGetSecretValueRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	out, err := s.BatchGetSecretValue(ctx, &secretstore.BatchGetSecretValueInput{
		SecretIdList: in.SecretIdList,
		Filters:      filtersIn(in.Filters),
		MaxResults:   intIn(in.MaxResults),
		NextToken:    in.NextToken,
	})
	if err != nil {
		return nil, err
	}
	resp := batchGetSecretValueResponse{
		SecretValues: make([]secretValueEntry, 0, len(out.SecretValues)),
		Errors:       make([]apiErrorType, 0, len(out.Errors)),
		NextToken:    out.NextToken,
	}
	for i := range out.SecretValues {
		v := &out.SecretValues[i]
		str, bin := value(&v.SecretString, v.SecretBinary)
		resp.SecretValues = append(resp.SecretValues, secretValueEntry{
			ARN:           v.ARN,
			Name:          v.Name,
			VersionId:     v.VersionId,
			SecretString:  str,
			SecretBinary:  bin,
			VersionStages: v.VersionStages,
			CreatedDate:   epochTime(v.CreatedDate),
		})
	}
	for _, e := range out.Errors {
		resp.Errors = append(resp.Errors, apiErrorType(e))
	}
	return resp, nil
}

func describeSecret(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in secretIDRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: in.SecretId})
	if err != nil {
		return nil, err
	}
	return describeSecretResponse{
		ARN:                out.ARN,
		Name:               out.Name,
		Description:        out.Description,
		KmsKeyId:           out.KmsKeyId,
		RotationEnabled:    rotationEnabled(out.RotationConfigured, out.RotationEnabled),
		RotationLambdaARN:  out.RotationLambdaARN,
		RotationRules:      rulesOut(out.RotationRules),
		LastRotatedDate:    epochTime(out.LastRotatedDate),
		NextRotationDate:   epochTime(out.NextRotationDate),
		LastChangedDate:    epochTime(out.LastChangedDate),
		LastAccessedDate:   epochTime(out.LastAccessedDate),
		DeletedDate:        epochTime(out.DeletedDate),
		CreatedDate:        epochTime(out.CreatedDate),
		Tags:               tagsOut(out.Tags),
		VersionIdsToStages: out.VersionIdsToStages,
	}, nil
}

func listSecretVersionIds(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in listSecretVersionIdsRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{
		SecretId:          in.SecretId,
		MaxResults:        intIn(in.MaxResults),
		NextToken:         in.NextToken,
		IncludeDeprecated: deref(in.IncludeDeprecated),
	})
	if err != nil {
		return nil, err
	}
	resp := listSecretVersionIdsResponse{
		ARN:       out.ARN,
		Name:      out.Name,
		Versions:  make([]versionEntry, 0, len(out.Versions)),
		NextToken: out.NextToken,
	}
	for _, v := range out.Versions {
		resp.Versions = append(resp.Versions, versionEntry{
			VersionId:        v.VersionId,
			VersionStages:    v.VersionStages,
			CreatedDate:      epochTime(v.CreatedDate),
			LastAccessedDate: epochTime(v.LastAccessedDate),
			KmsKeyIds:        v.KmsKeyIds,
		})
	}
	return resp, nil
}

func listSecrets(ctx context.Context, s secretstore.Store, body []byte, _ *request) (any, error) {
	var in listSecretsRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	out, err := s.ListSecrets(ctx, &secretstore.ListSecretsInput{
		Filters:                filtersIn(in.Filters),
		MaxResults:             intIn(in.MaxResults),
		NextToken:              in.NextToken,
		IncludePlannedDeletion: deref(in.IncludePlannedDeletion),
		SortBy:                 in.SortBy,
		SortOrder:              in.SortOrder,
	})
	if err != nil {
		return nil, err
	}
	resp := listSecretsResponse{
		SecretList: make([]secretListEntry, 0, len(out.SecretList)),
		NextToken:  out.NextToken,
	}
	for _, e := range out.SecretList {
		resp.SecretList = append(resp.SecretList, secretListEntry{
			ARN:                    e.ARN,
			Name:                   e.Name,
			Description:            e.Description,
			KmsKeyId:               e.KmsKeyId,
			RotationEnabled:        rotationEnabled(e.RotationConfigured, e.RotationEnabled),
			RotationLambdaARN:      e.RotationLambdaARN,
			RotationRules:          rulesOut(e.RotationRules),
			LastRotatedDate:        epochTime(e.LastRotatedDate),
			NextRotationDate:       epochTime(e.NextRotationDate),
			LastChangedDate:        epochTime(e.LastChangedDate),
			LastAccessedDate:       epochTime(e.LastAccessedDate),
			DeletedDate:            epochTime(e.DeletedDate),
			CreatedDate:            epochTime(e.CreatedDate),
			Tags:                   tagsOut(e.Tags),
			SecretVersionsToStages: e.SecretVersionsToStages,
		})
	}
	return resp, nil
}

func updateSecretVersionStage(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in updateSecretVersionStageRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
		SecretId:            in.SecretId,
		VersionStage:        in.VersionStage,
		RemoveFromVersionId: in.RemoveFromVersionId,
		MoveToVersionId:     in.MoveToVersionId,
	})
	if err != nil {
		return nil, err
	}
	return arnNameResponse{out.ARN, out.Name}, nil
}

func deleteSecret(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in deleteSecretRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.DeleteSecret(ctx, &secretstore.DeleteSecretInput{
		SecretId:                   in.SecretId,
		RecoveryWindowInDays:       in.RecoveryWindowInDays,
		ForceDeleteWithoutRecovery: deref(in.ForceDeleteWithoutRecovery),
	})
	if err != nil {
		return nil, err
	}
	return deleteSecretResponse{out.ARN, out.Name, epochTime(out.DeletionDate)}, nil
}

func restoreSecret(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in secretIDRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.RestoreSecret(ctx, &secretstore.RestoreSecretInput{SecretId: in.SecretId})
	if err != nil {
		return nil, err
	}
	return arnNameResponse{out.ARN, out.Name}, nil
}

func tagResource(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in tagResourceRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	if _, err := s.TagResource(ctx, &secretstore.TagResourceInput{SecretId: in.SecretId, Tags: tagsIn(in.Tags)}); err != nil {
		return nil, err
	}
	return emptyResponse{}, nil
}

func untagResource(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in untagResourceRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	if _, err := s.UntagResource(ctx, &secretstore.UntagResourceInput{SecretId: in.SecretId, TagKeys: in.TagKeys}); err != nil {
		return nil, err
	}
	return emptyResponse{}, nil
}

func rotateSecret(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in rotateSecretRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.RotateSecret(ctx, &secretstore.RotateSecretInput{
		SecretId:           in.SecretId,
		ClientRequestToken: in.ClientRequestToken,
		RotationLambdaARN:  in.RotationLambdaARN,
		RotationRules:      rulesIn(in.RotationRules),
		RotateImmediately:  in.RotateImmediately,
	})
	if err != nil {
		return nil, err
	}
	return arnNameVersionResponse{out.ARN, out.Name, out.VersionId}, nil
}

func cancelRotateSecret(ctx context.Context, s secretstore.Store, body []byte, rq *request) (any, error) {
	var in secretIDRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	rq.secret = in.SecretId
	out, err := s.CancelRotateSecret(ctx, &secretstore.CancelRotateSecretInput{SecretId: in.SecretId})
	if err != nil {
		return nil, err
	}
	return arnNameVersionResponse{out.ARN, out.Name, out.VersionId}, nil
}

func getRandomPassword(ctx context.Context, s secretstore.Store, body []byte, _ *request) (any, error) {
	var in getRandomPasswordRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	out, err := s.GetRandomPassword(ctx, &secretstore.GetRandomPasswordInput{
		PasswordLength:          in.PasswordLength,
		ExcludeCharacters:       in.ExcludeCharacters,
		ExcludeNumbers:          deref(in.ExcludeNumbers),
		ExcludePunctuation:      deref(in.ExcludePunctuation),
		ExcludeUppercase:        deref(in.ExcludeUppercase),
		ExcludeLowercase:        deref(in.ExcludeLowercase),
		IncludeSpace:            deref(in.IncludeSpace),
		RequireEachIncludedType: in.RequireEachIncludedType,
	})
	if err != nil {
		return nil, err
	}
	return getRandomPasswordResponse{out.RandomPassword}, nil
}
