/** An error answered as JSON `{ error: { code, message } }` with an HTTP status. */
export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** HTTP status of each modelmark error code a request can cause. */
export const STATUS = {
  ERR_INVALID_ARGUMENT: 400,
  ERR_DECODE: 400,
  ERR_IMAGE_TOO_SMALL: 422,
  ERR_IMAGE_TOO_LARGE: 413,
  ERR_IMAGE_ASPECT: 422,
};
