/** unireg's own span attributes (the standard ones come from @opentelemetry/semantic-conventions). */
export const ATTR_REQUEST_ID = 'unireg.request_id';
export const ATTR_REPOSITORY = 'unireg.repository';
export const ATTR_DIGEST = 'unireg.digest';
export const ATTR_TAG = 'unireg.tag';
export const ATTR_UPLOAD_ID = 'unireg.upload_id';
