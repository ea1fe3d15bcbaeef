# Build targets for `sam build` (BuildMethod: makefile). Each copies one release binary to
# $(ARTIFACTS_DIR)/bootstrap, the handler of the provided.al2023 runtime. No Docker needed.
CARGO ?= cargo
TARGET_DIR ?= target

define lambda
build-$(1):
	$(CARGO) build --release --locked --bin $(2)
	cp $(TARGET_DIR)/release/$(2) $(ARTIFACTS_DIR)/bootstrap
endef

$(eval $(call lambda,AuthenticateFunction,authenticate))
$(eval $(call lambda,RefreshFunction,refresh))
$(eval $(call lambda,RevokeFunction,revoke))
$(eval $(call lambda,JwksFunction,jwks))
$(eval $(call lambda,ForgotPasswordRequestFunction,forgot-password-request))
$(eval $(call lambda,ForgotPasswordConfirmFunction,forgot-password-confirm))
$(eval $(call lambda,AdminFunction,admin))
$(eval $(call lambda,AuthorizerFunction,authorizer))
$(eval $(call lambda,RotateSigningKeyFunction,rotate-signing-key))
