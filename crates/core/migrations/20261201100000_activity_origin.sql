-- Where the provider itself placed an event's client (Okta System Log geographicalContext and
-- securityContext, Auth0 location_info), as JSON: {"city","country","coords":[lat,lon],"asn",
-- "as_org","proxy"}. NULL for providers that do not say (GeoIP places those). Detection prefers
-- it to GeoIP, so the session facts and the map show the provider's place.
ALTER TABLE activity ADD COLUMN origin TEXT;
