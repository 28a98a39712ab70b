/**
 * A Databricks-style API refusal: the HTTP layer turns it into `{"error_code", "message"}` with `status`.
 * Thrown by the state model, so the model reads like the platform's rules.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const invalidParameter = (message: string) => new ApiError(400, 'INVALID_PARAMETER_VALUE', message);
export const invalidState = (message: string) => new ApiError(400, 'INVALID_STATE', message);
export const malformed = (message: string) => new ApiError(400, 'MALFORMED_REQUEST', message);
export const notFound = (message: string) => new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', message);
export const conflict = (message: string) => new ApiError(409, 'RESOURCE_CONFLICT', message);

/** The `error_code` Databricks uses for a bare HTTP status (fault injection without an explicit code). */
export function errorCodeFor(status: number): string {
  const codes: Record<number, string> = {
    400: 'INVALID_PARAMETER_VALUE',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'RESOURCE_DOES_NOT_EXIST',
    409: 'RESOURCE_CONFLICT',
    429: 'REQUEST_LIMIT_EXCEEDED',
    500: 'INTERNAL_ERROR',
    503: 'TEMPORARILY_UNAVAILABLE',
    504: 'DEADLINE_EXCEEDED',
  };
  return codes[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST');
}
