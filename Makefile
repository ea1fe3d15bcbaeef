# Build targets for `sam build` (BuildMethod: makefile). Each copies one release binary to
# $(ARTIFACTS_DIR)/bootstrap, the handler of the provided.al2023 runtime. No Docker needed.
# For Graviton: RUST_TARGET=aarch64-unknown-linux-gnu sam build (and Architectures: [arm64]).
CARGO ?= cargo
TARGET_DIR ?= target
RUST_TARGET ?=

ifeq ($(RUST_TARGET),)
BIN_DIR = $(TARGET_DIR)/release
TARGET_FLAG =
else
BIN_DIR = $(TARGET_DIR)/$(RUST_TARGET)/release
TARGET_FLAG = --target $(RUST_TARGET)
endif

define lambda
build-$(1):
	$(CARGO) build --release --locked $(TARGET_FLAG) --bin $(2)
	cp $(BIN_DIR)/$(2) $(ARTIFACTS_DIR)/bootstrap
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
